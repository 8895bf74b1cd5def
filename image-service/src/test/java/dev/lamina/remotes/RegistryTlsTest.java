package dev.lamina.remotes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.oci.Fixtures;
import dev.lamina.oci.ImageRef;
import dev.lamina.oci.MediaTypes;
import dev.lamina.remotes.hosts.HostsConfig;
import java.io.FileInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** hosts.toml TLS settings against an HTTPS canned registry with a certificate made by keytool. */
class RegistryTlsTest {
  @TempDir static Path tmp;
  private static Path serverStore;
  private static Path caPem;
  private static Path clientStore;
  private static final char[] pass = "changeit".toCharArray();
  private final java.util.List<CannedServer> servers = new java.util.ArrayList<>();

  @BeforeAll
  static void makeCertificates() throws Exception {
    serverStore = tmp.resolve("server.p12");
    caPem = tmp.resolve("ca.pem");
    clientStore = tmp.resolve("client.p12");
    keytool("-genkeypair", "-alias", "reg", "-keyalg", "RSA", "-keysize", "2048", "-validity", "2",
        "-dname", "CN=127.0.0.1", "-ext", "SAN=ip:127.0.0.1,dns:localhost",
        "-keystore", serverStore.toString(), "-storetype", "PKCS12", "-storepass", "changeit", "-keypass", "changeit");
    keytool("-exportcert", "-rfc", "-alias", "reg", "-keystore", serverStore.toString(),
        "-storepass", "changeit", "-file", caPem.toString());
    keytool("-genkeypair", "-alias", "client", "-keyalg", "RSA", "-keysize", "2048", "-validity", "2",
        "-dname", "CN=lamina-client", "-keystore", clientStore.toString(), "-storetype", "PKCS12",
        "-storepass", "changeit", "-keypass", "changeit");
    keytool("-exportcert", "-rfc", "-alias", "client", "-keystore", clientStore.toString(),
        "-storepass", "changeit", "-file", tmp.resolve("client.cert").toString());
    KeyStore ks = KeyStore.getInstance("PKCS12");
    try (FileInputStream in = new FileInputStream(clientStore.toFile())) {
      ks.load(in, pass);
    }
    PrivateKey key = (PrivateKey) ks.getKey("client", pass);
    Files.writeString(tmp.resolve("client.key"), "-----BEGIN PRIVATE KEY-----\n"
        + Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(key.getEncoded())
        + "\n-----END PRIVATE KEY-----\n");
  }

  @AfterEach
  void stop() {
    servers.forEach(CannedServer::close);
  }

  private static void keytool(String... args) throws Exception {
    List<String> cmd = new java.util.ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
    cmd.addAll(List.of(args));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes());
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(out).isZero();
  }

  private CannedServer httpsRegistry(boolean needClientAuth) throws Exception {
    KeyStore ks = KeyStore.getInstance("PKCS12");
    try (FileInputStream in = new FileInputStream(serverStore.toFile())) {
      ks.load(in, pass);
    }
    KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
    kmf.init(ks, pass);
    KeyStore trust = KeyStore.getInstance("PKCS12");
    trust.load(null, null);
    try (var in = Files.newInputStream(tmp.resolve("client.cert"))) {
      trust.setCertificateEntry("client", java.security.cert.CertificateFactory.getInstance("X.509").generateCertificate(in));
    }
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(trust);
    SSLContext ctx = SSLContext.getInstance("TLS");
    ctx.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
    CannedServer s = new CannedServer(ctx, needClientAuth);
    servers.add(s);
    FakeRegistry r = new FakeRegistry(s);
    r.putManifest("test/img", "v1", MediaTypes.OCI_INDEX, Fixtures.utf8("{\"schemaVersion\":2,\"manifests\":[]}"));
    return s;
  }

  private RegistryClient client(CannedServer s, String tomlBody) throws Exception {
    Path dir = tmp.resolve("hosts-" + s.port());
    Files.createDirectories(dir.resolve(s.authority()));
    Files.writeString(dir.resolve(s.authority()).resolve("hosts.toml"),
        "server = \"https://" + s.authority() + "\"\n" + tomlBody);
    return new RegistryClient(RegistryOptions.defaults()
        .withHosts(HostsConfig.directory(dir))
        .withRetries(3, Duration.ofMillis(5), Duration.ofMillis(20), Duration.ofSeconds(1)));
  }

  private ImageRef ref(CannedServer s) throws Exception {
    return ImageRef.parse(s.authority() + "/test/img:v1");
  }

  @Test
  void caFromHostsTomlIsTrusted() throws Exception {
    CannedServer s = httpsRegistry(false);
    RegistryClient c = client(s, "ca = \"" + caPem + "\"\n");
    assertThat(c.resolve(ref(s)).descriptor().mediaType()).isEqualTo(MediaTypes.OCI_INDEX);
  }

  @Test
  void unknownCaFailsWithoutRetrying() throws Exception {
    CannedServer s = httpsRegistry(false);
    LaminaException e = catchThrowableOfType(LaminaException.class, () -> client(s, "").resolve(ref(s)));
    assertThat(e.kind()).isEqualTo(ErrorKind.UNAVAILABLE);
    assertThat(e.getMessage())
        .contains("the TLS certificate of " + s.authority() + " is not trusted")
        .contains("ca = \"/path/ca.pem\" in DIR/" + s.authority() + "/hosts.toml")
        .doesNotContain("tried")
        .doesNotContainPattern("[a-z]+\\.[a-z]+\\.[A-Za-z]+(Exception|Error)");
  }

  @Test
  void skipVerifyAcceptsAnyCertificate() throws Exception {
    CannedServer s = httpsRegistry(false);
    assertThat(client(s, "skip_verify = true\n").resolve(ref(s)).descriptor()).isNotNull();
  }

  @Test
  void clientCertificateIsPresented() throws Exception {
    CannedServer s = httpsRegistry(true);
    RegistryClient with = client(s, "ca = \"" + caPem + "\"\nclient = [[\""
        + tmp.resolve("client.cert") + "\", \"" + tmp.resolve("client.key") + "\"]]\n");
    assertThat(with.resolve(ref(s)).descriptor()).isNotNull();
    LaminaException e = catchThrowableOfType(LaminaException.class, () -> client(s, "ca = \"" + caPem + "\"\n").resolve(ref(s)));
    assertThat(e).isNotNull();
    assertThat(e.kind()).isEqualTo(ErrorKind.UNAVAILABLE);
  }

  @Test
  void localhostThatSpeaksTlsStaysOnHttpsWithoutVerification() throws Exception {
    CannedServer s = httpsRegistry(false);
    RegistryClient c = new RegistryClient(RegistryOptions.defaults());
    assertThat(c.resolve(ref(s)).descriptor()).isNotNull();
    assertThat(s.log()).isNotEmpty();
  }
}
