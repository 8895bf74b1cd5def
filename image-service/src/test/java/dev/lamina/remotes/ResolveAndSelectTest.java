package dev.lamina.remotes;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.digest.Digest;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.oci.Descriptor;
import dev.lamina.oci.Fixtures;
import dev.lamina.oci.ImageConfig;
import dev.lamina.oci.ImageRef;
import dev.lamina.oci.Manifest;
import dev.lamina.oci.MediaTypes;
import dev.lamina.oci.Platform;
import dev.lamina.remotes.hosts.HostsConfig;
import dev.lamina.remotes.hosts.RegistryHost;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Resolving references, narrowing indexes, mirrors and the localhost http fallback. */
class ResolveAndSelectTest extends CannedRegistryTestBase {

  @Test
  void resolvesWithHead() throws Exception {
    Resolved r = client().resolve(ref("test/img:v1"));
    assertThat(r.descriptor()).isEqualTo(manifest);
    assertThat(r.name()).isEqualTo(server.authority() + "/test/img:v1");
    var reqs = server.requests("/v2/test/img/manifests/v1");
    assertThat(reqs).extracting(CannedServer.Recorded::method).containsExactly("HEAD");
    assertThat(reqs.get(0).header("Accept"))
        .contains(MediaTypes.OCI_INDEX, MediaTypes.DOCKER_MANIFEST_LIST, MediaTypes.OCI_MANIFEST, MediaTypes.DOCKER_MANIFEST);
  }

  @Test
  void fallsBackToGetWhenHeadLacksTheDigest() throws Exception {
    registry.headDigest = false;
    Resolved r = client().resolve(ref("test/img:v1"));
    assertThat(r.descriptor()).isEqualTo(manifest);
    assertThat(server.requests("/v2/test/img/manifests/v1"))
        .extracting(CannedServer.Recorded::method).containsExactly("HEAD", "GET");
  }

  @Test
  void fallsBackToGetWhenHeadIsRefused() throws Exception {
    server.on("/v2/test/img/manifests/.*", (ex, r) -> {
      if (r.method().equals("HEAD")) {
        ex.sendResponseHeaders(405, -1);
      } else {
        CannedServer.send(ex, 200, Map.of("Content-Type", "application/json"), manifestBytes);
      }
    });
    Resolved r = client().resolve(ref("test/img:v1"));
    // A generic Content-Type: the media type comes from the body.
    assertThat(r.descriptor()).isEqualTo(manifest);
  }

  @Test
  void resolvesADigestReference() throws Exception {
    Resolved r = client().resolve(ref("test/img:ignored@" + manifest.digest()));
    assertThat(r.descriptor()).isEqualTo(manifest);
    assertThat(r.name()).isEqualTo(server.authority() + "/test/img@" + manifest.digest());
    assertThat(server.requests("/v2/test/img/manifests/.*").get(0).path()).endsWith("/manifests/" + manifest.digest());
  }

  @Test
  void aDigestReferenceMustResolveToThatDigest() throws Exception {
    Digest other = Digest.sha256Of(new byte[] {9});
    // HEAD announcing another digest
    server.on("/v2/test/img/manifests/.*", (ex, r) ->
        CannedServer.send(ex, 200, Map.of("Content-Type", MediaTypes.OCI_MANIFEST,
            "Docker-Content-Digest", manifest.digest().toString()), manifestBytes));
    assertKind(failure(() -> client().resolve(ref("test/img@" + other))), ErrorKind.DATA_LOSS);
    // GET (HEAD refused) serving other content
    server.on("/v2/test/img/manifests/.*", (ex, r) -> {
      if (r.method().equals("HEAD")) {
        ex.sendResponseHeaders(405, -1);
      } else {
        CannedServer.send(ex, 200, Map.of("Content-Type", MediaTypes.OCI_MANIFEST), manifestBytes);
      }
    });
    var e = failure(() -> client().resolve(ref("test/img@" + other)));
    assertKind(e, ErrorKind.DATA_LOSS);
    assertThat(e.getMessage()).contains("whose digest is " + manifest.digest());
  }

  @Test
  void narrowsAnIndexToThePlatform() throws Exception {
    List<String> entries = new ArrayList<>();
    Map<String, Descriptor> byPlatform = new java.util.HashMap<>();
    for (String[] p : new String[][] {
        {"amd64", null}, {"arm64", "v8"}, {"arm", "v7"}, {"arm", "v6"}, {"s390x", null}}) {
      byte[] cfg = Fixtures.config(List.of(layer.digest()), p[0]);
      Descriptor c = registry.putBlob(MediaTypes.OCI_CONFIG, cfg);
      byte[] m = Fixtures.manifest(MediaTypes.OCI_MANIFEST, c, List.of(layer));
      Descriptor d = registry.putManifest("test/multi", null, MediaTypes.OCI_MANIFEST, m);
      byPlatform.put(p[0] + (p[1] == null ? "" : "/" + p[1]), d);
      entries.add(Fixtures.descJson(d, Fixtures.platform("linux", p[0], p[1])));
    }
    // An attestation manifest, as BuildKit adds: never selected.
    entries.add(0, Fixtures.descJson(byPlatform.get("amd64"), Fixtures.platform("unknown", "unknown", null)));
    Descriptor idx = registry.putManifest("test/multi", "latest", MediaTypes.OCI_INDEX,
        Fixtures.index(MediaTypes.OCI_INDEX, entries));
    RegistryClient c = client();
    ImageRef repo = ref("test/multi");

    Resolved r = c.resolve(repo);
    assertThat(r.descriptor()).isEqualTo(idx);

    List<Descriptor> stored = new ArrayList<>();
    Manifest amd = c.selectPlatform(repo, r.descriptor(), Platform.parse("linux/amd64").matcher(),
        (d, b) -> stored.add(d));
    assertThat(amd.descriptor().digest()).isEqualTo(byPlatform.get("amd64").digest());
    assertThat(amd.descriptor().platform()).isEqualTo(Platform.of("linux", "amd64"));
    assertThat(stored).extracting(Descriptor::digest).containsExactly(idx.digest(), amd.descriptor().digest());

    Manifest arm64 = c.selectPlatform(repo, r.descriptor(), Platform.of("linux", "aarch64").matcher(), (d, b) -> { });
    assertThat(arm64.descriptor().digest()).isEqualTo(byPlatform.get("arm64/v8").digest());

    Manifest armv7 = c.selectPlatform(repo, r.descriptor(), Platform.parse("linux/arm").matcher(), (d, b) -> { });
    assertThat(armv7.descriptor().digest()).isEqualTo(byPlatform.get("arm/v7").digest());
    Manifest armv6 = c.selectPlatform(repo, r.descriptor(), Platform.parse("linux/arm/v6").matcher(), (d, b) -> { });
    assertThat(armv6.descriptor().digest()).isEqualTo(byPlatform.get("arm/v6").digest());

    var e = failure(() -> c.selectPlatform(repo, r.descriptor(), Platform.parse("linux/ppc64le").matcher(), (d, b) -> { }));
    assertKind(e, ErrorKind.NOT_FOUND);
    assertThat(e.getMessage()).contains("linux/ppc64le").contains("linux/arm64/v8").contains(idx.digest().toString());

    ImageConfig cfg = c.fetchConfig(repo, arm64);
    assertThat(cfg.platform().normalize()).isEqualTo(Platform.parse("linux/arm64"));
    assertThat(cfg.rootfs().diffIds()).containsExactly(layer.digest());
    assertThat(cfg.config().user()).isEqualTo("1000:1000");
  }

  @Test
  void aPlainManifestIsReturnedAsItIs() throws Exception {
    Manifest m = client().selectPlatform(ref("test/img"), manifest);
    assertThat(m.descriptor()).isEqualTo(manifest);
    assertThat(m.layers()).containsExactly(layer);
  }

  @Test
  void mirrorsAreTriedInOrderThenTheServer() throws Exception {
    try (CannedServer down = new CannedServer(); CannedServer mirror = new CannedServer()) {
      down.on("/.*", (ex, r) -> FakeRegistry.error(ex, 404, "MANIFEST_UNKNOWN", "manifest unknown"));
      FakeRegistry m = new FakeRegistry(mirror);
      m.putManifest("test/img", "v1", MediaTypes.OCI_MANIFEST, manifestBytes);
      m.blobs.put(layer.digest().toString(), layerBytes);
      Path dir = tmp.resolve("mirrors");
      Files.createDirectories(dir.resolve(server.authority()));
      Files.writeString(dir.resolve(server.authority()).resolve("hosts.toml"), """
          server = "http://%s"

          [host."http://%s"]
            capabilities = ["pull", "resolve"]

          [host."http://%s"]
            capabilities = ["pull", "resolve"]
            [host."http://%s".header]
              x-mirror-key = "k1"
          """.formatted(server.authority(), down.authority(), mirror.authority(), mirror.authority()));
      RegistryClient c = new RegistryClient(options().withHosts(HostsConfig.directory(dir)));

      assertThat(c.hosts(ref("test/img"))).extracting(RegistryHost::authority)
          .containsExactly(down.authority(), mirror.authority(), server.authority());
      assertThat(c.resolve(ref("test/img:v1")).descriptor()).isEqualTo(manifest);
      assertThat(c.readBlob(ref("test/img"), layer)).isEqualTo(layerBytes);

      assertThat(down.log()).isNotEmpty();
      assertThat(mirror.log()).allSatisfy(r -> {
        assertThat(r.query()).isEqualTo("ns=" + server.authority().replace(":", "%3A"));
        assertThat(r.header("x-mirror-key")).isEqualTo("k1");
      });
      assertThat(server.log()).isEmpty();

      // Not on any mirror: the server answers.
      registry.putManifest("test/img", "only-upstream", MediaTypes.OCI_MANIFEST, manifestBytes);
      assertThat(c.resolve(ref("test/img:only-upstream")).descriptor()).isEqualTo(manifest);
      assertThat(server.requests("/v2/test/img/manifests/only-upstream")).isNotEmpty();
    }
  }

  @Test
  void allHostsFailingReportsTheServersErrorWithTheOthersSuppressed() throws Exception {
    Path dir = tmp.resolve("dead-mirror");
    Files.createDirectories(dir.resolve(server.authority()));
    Files.writeString(dir.resolve(server.authority()).resolve("hosts.toml"),
        "server = \"http://" + server.authority() + "\"\n[host.\"http://127.0.0.1:1\"]\n");
    RegistryClient c = new RegistryClient(options().withHosts(HostsConfig.directory(dir)));
    var e = failure(() -> c.resolve(ref("test/img:missing")));
    assertKind(e, ErrorKind.NOT_FOUND);
    assertThat(e.getSuppressed()).hasSize(1);
    assertThat(((dev.lamina.errdefs.LaminaException) e.getSuppressed()[0]).kind()).isEqualTo(ErrorKind.UNAVAILABLE);
  }

  @Test
  void localhostWithoutConfigurationFallsBackToPlainHttp() throws Exception {
    RegistryClient c = new RegistryClient(options().withHosts(HostsConfig.none()));
    assertThat(c.resolve(ref("test/img:v1")).descriptor()).isEqualTo(manifest);
    assertThat(c.readBlob(ref("test/img"), config)).hasSize((int) config.size());
    RegistryHost h = c.hosts(ref("test/img")).get(0);
    assertThat(h.scheme()).isEqualTo("https");
    assertThat(h.httpFallback()).isTrue();
  }
}
