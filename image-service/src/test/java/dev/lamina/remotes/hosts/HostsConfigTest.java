package dev.lamina.remotes.hosts;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.remotes.hosts.RegistryHost.Capability;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class HostsConfigTest {
  @TempDir Path dir;

  private void write(String registry, String toml) throws Exception {
    Files.createDirectories(dir.resolve(registry));
    Files.writeString(dir.resolve(registry).resolve("hosts.toml"), toml);
  }

  @Test
  void mirrorsInFileOrderThenTheServer() throws Exception {
    write("docker.io", """
        server = "https://registry-1.docker.io"
        capabilities = ["pull", "resolve"]

        [host."https://mirror-b.example.com"]
          capabilities = ["pull"]
          ca = "b-ca.pem"
          skip_verify = false

        [host."http://10.0.0.7:5000"]
          capabilities = ["pull", "resolve"]
          skip_verify = true
          client = [["/etc/certs/c.cert", "/etc/certs/c.key"], "both.pem"]
          [host."http://10.0.0.7:5000".header]
            x-custom-1 = "a"
            x-custom-2 = ["b", "c"]

        [host."https://mirror-a.example.com/registry"]
          override_path = true
          ca = ["/abs/ca1.pem", "rel/ca2.pem"]
        """);
    List<RegistryHost> hosts = HostsConfig.directory(dir).hosts("docker.io");

    assertThat(hosts).extracting(RegistryHost::authority)
        .containsExactly("mirror-b.example.com", "10.0.0.7:5000", "mirror-a.example.com", "registry-1.docker.io");
    RegistryHost b = hosts.get(0);
    assertThat(b.scheme()).isEqualTo("https");
    assertThat(b.capabilities()).containsExactly(Capability.PULL);
    assertThat(b.caCerts()).containsExactly(dir.resolve("docker.io").resolve("b-ca.pem"));
    assertThat(b.basePath()).isEqualTo("/v2");
    assertThat(b.server()).isFalse();

    RegistryHost plain = hosts.get(1);
    assertThat(plain.scheme()).isEqualTo("http");
    assertThat(plain.skipVerify()).isTrue();
    assertThat(plain.headers()).isEqualTo(Map.of("x-custom-1", List.of("a"), "x-custom-2", List.of("b", "c")));
    assertThat(plain.clientCerts()).containsExactly(
        new RegistryHost.ClientCert(Path.of("/etc/certs/c.cert"), Path.of("/etc/certs/c.key")),
        new RegistryHost.ClientCert(dir.resolve("docker.io").resolve("both.pem"), null));
    assertThat(plain.uri("library/busybox/manifests/latest").toString())
        .isEqualTo("http://10.0.0.7:5000/v2/library/busybox/manifests/latest");

    RegistryHost a = hosts.get(2);
    assertThat(a.basePath()).isEqualTo("/registry");
    assertThat(a.capabilities()).isEqualTo(Set.of(Capability.PULL, Capability.RESOLVE, Capability.PUSH));
    assertThat(a.caCerts()).containsExactly(Path.of("/abs/ca1.pem"), dir.resolve("docker.io").resolve("rel/ca2.pem"));

    RegistryHost server = hosts.get(3);
    assertThat(server.server()).isTrue();
    assertThat(server.capabilities()).isEqualTo(Set.of(Capability.PULL, Capability.RESOLVE));
  }

  @Test
  void pathWithoutOverrideGetsV2() throws Exception {
    write("r.example", "[host.\"https://m.example/prefix/\"]\n");
    RegistryHost m = HostsConfig.directory(dir).hosts("r.example").get(0);
    assertThat(m.basePath()).isEqualTo("/prefix/v2");
  }

  @Test
  void serverDefaultsToTheRegistryAndHostPortDirectories() throws Exception {
    write("localhost:5000", "[host.\"http://mirror:5000\"]\n");
    List<RegistryHost> hosts = HostsConfig.directory(dir).hosts("localhost:5000");
    assertThat(hosts).extracting(RegistryHost::toString)
        .containsExactly("http://mirror:5000/v2 [mirror]", "https://localhost:5000/v2 [skip_verify, http fallback]");
  }

  @Test
  void plainHttpServer() throws Exception {
    write("registry.local", "server = \"http://registry.local:8080\"\n");
    RegistryHost h = HostsConfig.directory(dir).hosts("registry.local").get(0);
    assertThat(h.scheme()).isEqualTo("http");
    assertThat(h.authority()).isEqualTo("registry.local:8080");
  }

  @Test
  void defaultDirectoryAppliesToOtherRegistries() throws Exception {
    write("_default", "[host.\"https://catch-all.example\"]\n  capabilities = [\"pull\"]\n");
    List<RegistryHost> hosts = HostsConfig.directory(dir).hosts("quay.io");
    assertThat(hosts).extracting(RegistryHost::authority).containsExactly("catch-all.example", "quay.io");
  }

  @Test
  void noConfigurationMeansHttpsAndLocalhostRules() throws Exception {
    assertThat(HostsConfig.none().hosts("docker.io")).extracting(RegistryHost::toString)
        .containsExactly("https://registry-1.docker.io/v2");
    assertThat(HostsConfig.directory(dir).hosts("quay.io")).extracting(RegistryHost::toString)
        .containsExactly("https://quay.io/v2");
    assertThat(HostsConfig.none().hosts("127.0.0.1:5000").get(0).httpFallback()).isTrue();
    assertThat(HostsConfig.none().hosts("[::1]:5000").get(0).httpFallback()).isTrue();
    assertThat(HostsConfig.none().hosts("localhost").get(0).httpFallback()).isFalse();
    assertThat(HostsConfig.none().hosts("localhost:80").get(0).scheme()).isEqualTo("http");
    assertThat(HostsConfig.none().hosts("example.com:5000").get(0).httpFallback()).isFalse();
  }

  @Test
  void certsDirectoryWithoutHostsToml() throws Exception {
    Path d = dir.resolve("secure.example:443");
    Files.createDirectories(d);
    Files.writeString(d.resolve("ca.crt"), "x");
    Files.writeString(d.resolve("client.cert"), "x");
    Files.writeString(d.resolve("client.key"), "x");
    RegistryHost h = HostsConfig.directory(dir).hosts("secure.example:443").get(0);
    assertThat(h.caCerts()).containsExactly(d.resolve("ca.crt"));
    assertThat(h.clientCerts()).containsExactly(new RegistryHost.ClientCert(d.resolve("client.cert"), d.resolve("client.key")));
  }

  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      "not toml | server = | invalid",
      "bad capability | capabilities = [\"fly\"] | unknown capability",
      "ftp server | server = \"ftp://x\" | is not http(s)",
      "skip_verify string | skip_verify = \"yes\" | want true or false",
      "restricted header | [header]\\n  Host = \"evil\" | cannot be set",
      "client number | client = 3 | client",
  })
  void invalidFilesAreNamed(String name, String toml, String message) throws Exception {
    write("bad.example", toml.replace("\\n", "\n"));
    LaminaException e = catchThrowableOfType(LaminaException.class, () -> HostsConfig.directory(dir).hosts("bad.example"));
    assertThat(e).as(name).isNotNull();
    assertThat(e.kind()).isEqualTo(ErrorKind.INVALID_ARGUMENT);
    assertThat(e.getMessage()).contains(message).contains("hosts.toml");
  }
}
