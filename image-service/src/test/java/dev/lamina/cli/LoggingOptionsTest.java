package dev.lamina.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code serve --log-level debug} in both formats while pulls authenticate with a password, a token
 * fetched with it, and a registry token: the debug lines are there, the secrets are not.
 */
class LoggingOptionsTest {
  private static final String PASSWORD = "pw-S3CRET-one";
  private static final String ISSUED = "issued-S3CRET-two";
  private static final String GIVEN_TOKEN = "given-S3CRET-three";
  private static final String BASIC = "Basic " + Base64.getEncoder()
      .encodeToString(("user:" + PASSWORD).getBytes(StandardCharsets.UTF_8));

  @TempDir Path tmp;
  private HttpServer registry;

  /** Basic auth on repository basic/, bearer tokens (issued for the same password) on bearer/. */
  @BeforeEach
  void startRegistry() throws IOException {
    registry = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    String base = "http://127.0.0.1:" + registry.getAddress().getPort();
    registry.createContext("/", ex -> {
      String auth = ex.getRequestHeaders().getFirst("Authorization");
      String path = ex.getRequestURI().getPath();
      if (path.equals("/token")) {
        send(ex, BASIC.equals(auth) ? 200 : 401, "{\"token\":\"" + ISSUED + "\",\"expires_in\":300}");
      } else if (path.startsWith("/v2/basic/") && !BASIC.equals(auth)) {
        ex.getResponseHeaders().add("WWW-Authenticate", "Basic realm=\"test\"");
        send(ex, 401, "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}");
      } else if (path.startsWith("/v2/bearer/") && !("Bearer " + ISSUED).equals(auth)) {
        ex.getResponseHeaders().add("WWW-Authenticate",
            "Bearer realm=\"" + base + "/token\",service=\"test\",scope=\"repository:bearer/img:pull\"");
        send(ex, 401, "{\"errors\":[{\"code\":\"UNAUTHORIZED\"}]}");
      } else {
        send(ex, 404, "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\"}]}");
      }
    });
    registry.start();
  }

  private static void send(HttpExchange ex, int status, String body) throws IOException {
    byte[] b = body.getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().add("Content-Type", "application/json");
    ex.sendResponseHeaders(status, ex.getRequestMethod().equals("HEAD") ? -1 : b.length);
    if (!ex.getRequestMethod().equals("HEAD")) {
      ex.getResponseBody().write(b);
    }
    ex.close();
  }

  @AfterEach
  void stopRegistry() {
    registry.stop(0);
  }

  @ParameterizedTest
  @ValueSource(strings = {"text", "json"})
  void debugLogsNameTheAuthStepsButNeverTheSecrets(String format) throws Exception {
    String authority = "127.0.0.1:" + registry.getAddress().getPort();
    Path hosts = Files.createDirectories(tmp.resolve("hosts").resolve(authority));
    Files.writeString(hosts.resolve("hosts.toml"), "server = \"http://" + authority + "\"\n");
    String log;
    try (ServeProcess serve = new ServeProcess(Files.createDirectories(tmp.resolve("d")), "--log-level", "debug",
        "--log-format", format, "--registry-config-dir", tmp.resolve("hosts").toString())) {
      String socket = serve.socket().toString();
      CommandRun basic = CommandRun.of("pull", "--socket", socket, "--creds", "user:" + PASSWORD,
          authority + "/basic/img:v1");
      CommandRun bearer = CommandRun.of("pull", "--socket", socket, "--creds", "user:" + PASSWORD,
          authority + "/bearer/img:v1");
      CommandRun token = CommandRun.of("pull", "--socket", socket, "--registry-token", GIVEN_TOKEN,
          authority + "/bearer/img:v1");
      assertThat(basic.err()).contains("manifest unknown");
      assertThat(bearer.err()).contains("manifest unknown");
      assertThat(token.err()).contains("UNAUTHENTICATED");
      log = serve.stop();
    }
    assertThat(log).contains("basic challenge; answering with UserPass[username=user, password=<redacted>]")
        .contains("bearer challenge; asking http://" + authority + "/token")
        .contains("the registry token given with the pull was refused")
        .contains("registry configuration from " + tmp.resolve("hosts") + " (read at every pull): " + authority);
    assertThat(log.toLowerCase(Locale.ROOT)).doesNotContain("s3cret");
    assertThat(log).doesNotContain(BASIC.substring("Basic ".length()));
    assertThat(log).as("no Authorization header value")
        .doesNotContainPattern("(?i)\\b(basic|bearer) (?!challenge)[A-Za-z0-9+/=._-]{8,}")
        .doesNotContainPattern("(?i)authorization\\W+\\w");
    List<String> lines = log.lines().filter(l -> !l.isBlank()).toList();
    if (format.equals("json")) {
      ObjectMapper json = new ObjectMapper();
      for (String line : lines) {
        JsonNode n = json.readTree(line);
        assertThat(n.path("msg").isTextual()).as(line).isTrue();
        assertThat(n.path("level").asText()).as(line).isIn("error", "warn", "info", "debug", "trace");
        assertThat(n.path("time").asText()).as(line).isNotEmpty();
      }
      assertThat(lines).anyMatch(l -> l.contains("\"level\":\"debug\"") && l.contains("\"logger\":\"dev.lamina."));
    } else {
      assertThat(lines).anyMatch(l -> l.contains(" DEBUG dev.lamina."));
      assertThat(lines).noneMatch(l -> l.startsWith("{"));
    }
  }

  @Test
  void theStartSaysWhenThereIsNoRegistryConfiguration() throws Exception {
    String log;
    try (ServeProcess serve = new ServeProcess(Files.createDirectories(tmp.resolve("none")))) {
      log = serve.stop();
    }
    assertThat(log).contains("registry configuration: none (no --registry-config-dir); every registry is reached "
        + "at its own name over https");
  }

  @Test
  void theStartSaysWhichRegistryConfigurationDirectoryIsRead() throws Exception {
    Path dir = Files.createDirectories(tmp.resolve("certs.d"));
    Files.createDirectories(dir.resolve("127.0.0.1:5000"));
    Files.writeString(dir.resolve("127.0.0.1:5000/hosts.toml"), "server = \"http://127.0.0.1:5000\"\n");
    String log;
    try (ServeProcess serve = new ServeProcess(Files.createDirectories(tmp.resolve("some")),
        "--registry-config-dir", dir.toString())) {
      log = serve.stop();
    }
    assertThat(log).contains("registry configuration from " + dir + " (read at every pull): 127.0.0.1:5000");
  }
}
