package dev.lamina.remotes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.oci.ImageRef;
import dev.lamina.remotes.hosts.HostsConfig;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.assertj.core.api.AbstractStringAssert;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Each way a registry can be out of reach, against a real loopback endpoint, reads as its cause in
 * words with what to do next, and no Java class name.
 */
class NetworkFailuresTest {
  @TempDir Path tmp;
  private final List<AutoCloseable> open = new ArrayList<>();

  @AfterEach
  void close() throws Exception {
    for (AutoCloseable c : open) {
      c.close();
    }
  }

  private RegistryClient client(String authority, String server) throws IOException {
    Path dir = tmp.resolve("hosts");
    Files.createDirectories(dir.resolve(authority));
    Files.writeString(dir.resolve(authority).resolve("hosts.toml"), "server = \"" + server + "\"\n");
    return new RegistryClient(RegistryOptions.defaults()
        .withHosts(HostsConfig.directory(dir))
        .withRetries(2, Duration.ofMillis(5), Duration.ofMillis(10), Duration.ofSeconds(1))
        .withTimeouts(Duration.ofSeconds(5), Duration.ofMillis(700), Duration.ofSeconds(5)));
  }

  private static AbstractStringAssert<?> assertFailure(RegistryClient c, String ref) {
    LaminaException e = catchThrowableOfType(LaminaException.class, () -> c.resolve(ImageRef.parse(ref)));
    assertThat(e).as("resolve " + ref + " fails").isNotNull();
    assertThat(e.kind()).as(e.getMessage()).isEqualTo(ErrorKind.UNAVAILABLE);
    return assertThat(e.getMessage())
        .doesNotContain("java.")
        .doesNotContain("Exception")
        .startsWith("resolve ");
  }

  @Test
  void closedPortIsConnectionRefused() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    String authority = "127.0.0.1:" + port;
    assertFailure(client(authority, "http://" + authority), authority + "/test/img:v1")
        .contains("connection to " + authority + " refused: nothing listens there")
        .contains("check that the registry runs")
        .endsWith("(tried 2 times)");
  }

  @Test
  void unresolvableHostIsDnsLookupFailed() throws Exception {
    String authority = "no-such-host.invalid:5000";
    assertFailure(client(authority, "http://" + authority), authority + "/test/img:v1")
        .contains("DNS lookup of no-such-host.invalid failed")
        .contains("check the registry's name in the image reference, or the node's DNS");
  }

  @Test
  void serverThatNeverAnswersTimesOut() throws Exception {
    ServerSocket silent = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    open.add(silent);
    List<Socket> accepted = new ArrayList<>();
    Thread acceptor = new Thread(() -> {
      try {
        while (true) {
          accepted.add(silent.accept()); // and never answer
        }
      } catch (IOException e) {
        // closed
      }
    });
    acceptor.setDaemon(true);
    acceptor.start();
    open.add(() -> {
      for (Socket s : accepted) {
        s.close();
      }
    });
    String authority = "127.0.0.1:" + silent.getLocalPort();
    assertFailure(client(authority, "http://" + authority), authority + "/test/img:v1")
        .contains(authority + " accepted the connection but sent no answer within 0.7 s");
  }

  @Test
  void plainHttpServerSpokenToOverTlsSaysSo() throws Exception {
    ServerSocket plain = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    open.add(plain);
    Thread server = new Thread(() -> {
      try {
        while (true) {
          try (Socket s = plain.accept()) {
            s.getInputStream().read(new byte[512]);
            s.getOutputStream().write("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".getBytes());
          }
        }
      } catch (IOException e) {
        // closed
      }
    });
    server.setDaemon(true);
    server.start();
    String authority = "127.0.0.1:" + plain.getLocalPort();
    assertFailure(client(authority, "https://" + authority), authority + "/test/img:v1")
        .contains("the TLS handshake with " + authority + " failed")
        .contains("server = \"http://" + authority + "\"");
  }

  @Test
  void describesProxyRefusalsWithoutClassNames() {
    IOException tunnel = new IOException("Unable to tunnel through proxy. Proxy returns \"HTTP/1.1 407 Proxy Authentication Required\"");
    var d = NetworkFailures.describe(tunnel, "registry.example:443", null, RegistryOptions.defaults());
    assertThat(d.cause()).isEqualTo(NetworkFailures.Cause.PROXY);
    assertThat(d.text()).contains("refused to connect to registry.example:443")
        .contains("HTTP/1.1 407 Proxy Authentication Required").contains("proxy settings");
    assertThat(NetworkFailures.stripClassNames("java.net.ConnectException: java.nio.channels.ClosedChannelException"))
        .isEmpty();
    assertThat(new InetSocketAddress(0).getPort()).isZero();
  }
}
