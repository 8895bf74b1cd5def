package dev.lamina.remotes;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.digest.Digest;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.oci.Descriptor;
import dev.lamina.oci.MediaTypes;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Duration;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

/** Classification of failures, retries, stalls, truncation and digest mismatches. */
class RegistryErrorsTest extends CannedRegistryTestBase {

  static Stream<Arguments> statuses() {
    return Stream.of(
        Arguments.of(401, "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}",
            ErrorKind.UNAUTHENTICATED, "UNAUTHORIZED: authentication required"),
        Arguments.of(403, "{\"errors\":[{\"code\":\"DENIED\",\"message\":\"requested access to the resource is denied\"}]}",
            ErrorKind.PERMISSION_DENIED, "DENIED: requested access to the resource is denied"),
        Arguments.of(404, "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\",\"detail\":{\"Tag\":\"v1\"}}]}",
            ErrorKind.NOT_FOUND, "MANIFEST_UNKNOWN: manifest unknown"),
        Arguments.of(400, "{\"errors\":[{\"code\":\"NAME_INVALID\",\"message\":\"invalid repository name\"}]}",
            ErrorKind.INVALID_ARGUMENT, "NAME_INVALID: invalid repository name"),
        Arguments.of(418, "I'm a teapot", ErrorKind.INVALID_ARGUMENT, "answered 418"),
        Arguments.of(429, "{\"errors\":[{\"code\":\"TOOMANYREQUESTS\",\"message\":\"slow down\"}]}",
            ErrorKind.UNAVAILABLE, "TOOMANYREQUESTS: slow down"),
        Arguments.of(500, "", ErrorKind.UNAVAILABLE, "answered 500 Internal Server Error"),
        Arguments.of(503, "{\"errors\":[{\"code\":\"UNAVAILABLE\",\"message\":\"maintenance\"}]}",
            ErrorKind.UNAVAILABLE, "gave up after 3 attempts"),
        Arguments.of(300, "", ErrorKind.INTERNAL, "answered 300"));
  }

  @ParameterizedTest(name = "{0} -> {2}")
  @MethodSource("statuses")
  void classifiesFailures(int status, String body, ErrorKind kind, String message) throws Exception {
    server.on("/v2/test/img/manifests/.*", (ex, r) ->
        CannedServer.send(ex, status, Map.of("Content-Type", body.startsWith("{") ? "application/json" : "text/plain"), body));

    var e = failure(() -> client().fetchManifest(ref("test/img"), manifest));

    assertKind(e, kind);
    assertThat(e.getMessage()).contains(message).contains(server.authority());
    if (status == 404) {
      assertThat(e.getMessage()).startsWith("manifest unknown: " + server.authority() + "/test/img@" + manifest.digest());
    }
  }

  @Test
  void unknownTagAndBlobAreNotFoundNamingThem() throws Exception {
    var m = failure(() -> client().resolve(ref("test/img:nope")));
    assertKind(m, ErrorKind.NOT_FOUND);
    assertThat(m.getMessage()).startsWith("manifest unknown: " + server.authority() + "/test/img:nope");

    Descriptor missing = Descriptor.of(MediaTypes.OCI_LAYER_GZIP, Digest.sha256Of(new byte[] {1}), 1);
    var b = failure(() -> client().fetchBlob(ref("test/img"), missing));
    assertKind(b, ErrorKind.NOT_FOUND);
    assertThat(b.getMessage()).startsWith("blob unknown: " + missing.digest())
        .contains("BLOB_UNKNOWN: blob unknown to registry");
  }

  @Test
  void retriesServerErrorsThenSucceeds() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    server.on("/v2/test/img/blobs/.*", (ex, r) -> {
      if (calls.incrementAndGet() <= 2) {
        CannedServer.send(ex, 503, Map.of(), "busy");
      } else {
        CannedServer.send(ex, 200, Map.of(), layerBytes);
      }
    });
    assertThat(client().readBlob(ref("test/img"), layer)).isEqualTo(layerBytes);
    assertThat(calls).hasValue(3);
  }

  @Test
  void honoursRetryAfterOn429() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    server.on("/v2/test/img/manifests/.*", (ex, r) -> {
      if (calls.incrementAndGet() == 1) {
        CannedServer.send(ex, 429, Map.of("Retry-After", "1"), "{\"errors\":[{\"code\":\"TOOMANYREQUESTS\"}]}");
      } else {
        CannedServer.send(ex, 200, Map.of("Content-Type", MediaTypes.OCI_MANIFEST), manifestBytes);
      }
    });
    long start = System.nanoTime();
    assertThat(client().fetchManifest(ref("test/img"), manifest)).isEqualTo(manifestBytes);
    assertThat(Duration.ofNanos(System.nanoTime() - start)).isGreaterThanOrEqualTo(Duration.ofMillis(950));
    assertThat(calls).hasValue(2);
  }

  @Test
  void retryLimitGivesUnavailable() throws Exception {
    server.on("/v2/test/img/blobs/.*", (ex, r) -> CannedServer.send(ex, 502, Map.of(), "bad gateway"));
    var e = failure(() -> client().fetchBlob(ref("test/img"), layer));
    assertKind(e, ErrorKind.UNAVAILABLE);
    assertThat(e.getMessage()).contains("gave up after 3 attempts").contains("blob " + layer.digest());
    assertThat(server.requests("/v2/test/img/blobs/.*")).hasSize(3);
  }

  @Test
  void droppedConnectionsAreRetried() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    server.on("/v2/test/img/manifests/.*", (ex, r) -> {
      if (calls.incrementAndGet() == 1) {
        throw new RuntimeException("drop the connection without an answer");
      }
      CannedServer.send(ex, 200, Map.of("Content-Type", MediaTypes.OCI_MANIFEST), manifestBytes);
    });
    assertThat(client().fetchManifest(ref("test/img"), manifest)).isEqualTo(manifestBytes);
    assertThat(calls).hasValue(2);
  }

  @Test
  void unreachableRegistryIsUnavailable() throws Exception {
    RegistryClient c = client();
    server.close();
    var e = failure(() -> c.resolve(ref("test/img:v1")));
    assertKind(e, ErrorKind.UNAVAILABLE);
    assertThat(e.getMessage()).contains("connection to " + server.authority() + " refused").endsWith("(tried 3 times)");
  }

  @Test
  void stalledBodyIsUnavailableWithinTheTimeout() throws Exception {
    server.on("/v2/test/img/blobs/.*", (ex, r) -> {
      ex.sendResponseHeaders(200, layerBytes.length);
      OutputStream out = ex.getResponseBody();
      out.write(layerBytes, 0, 1000);
      out.flush();
      try {
        server.release.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    });
    RegistryClient c = new RegistryClient(options().withTimeouts(
        Duration.ofSeconds(5), Duration.ofSeconds(5), Duration.ofMillis(700)));
    long start = System.nanoTime();
    var e = failure(() -> {
      try (InputStream in = c.fetchBlob(ref("test/img"), layer)) {
        in.readAllBytes();
      }
    });
    Duration took = Duration.ofNanos(System.nanoTime() - start);
    assertKind(e, ErrorKind.UNAVAILABLE);
    assertThat(e.getMessage()).contains("no data for 0.7s").contains(layer.digest().toString());
    // the message names the stall timer (0.7 s), not the 5 s timeouts; timers never fire early
    assertThat(took).isGreaterThanOrEqualTo(Duration.ofMillis(650));
  }

  @Test
  void shortBodyIsDataLoss() throws Exception {
    // The registry says it is done (chunked, clean end) before the descriptor's size.
    server.on("/v2/test/img/blobs/.*", (ex, r) -> {
      ex.sendResponseHeaders(200, 0);
      try (OutputStream out = ex.getResponseBody()) {
        out.write(layerBytes, 0, 1000);
      }
    });
    var e = failure(() -> {
      try (InputStream in = client().fetchBlob(ref("test/img"), layer)) {
        in.readAllBytes();
      }
    });
    assertKind(e, ErrorKind.DATA_LOSS);
    assertThat(e.getMessage()).contains("truncated").contains("after 1000 of " + layer.size());
  }

  @Test
  void announcedLengthOtherThanTheDescriptorIsDataLoss() throws Exception {
    server.on("/v2/test/img/blobs/.*", (ex, r) ->
        CannedServer.send(ex, 200, Map.of(), Arrays.copyOf(layerBytes, 5000)));
    var e = failure(() -> client().fetchBlob(ref("test/img"), layer));
    assertKind(e, ErrorKind.DATA_LOSS);
    assertThat(e.getMessage()).contains("announced 5000 bytes");
  }

  @Test
  void longerBodyIsDataLoss() throws Exception {
    server.on("/v2/test/img/blobs/.*", (ex, r) -> {
      ex.sendResponseHeaders(200, 0); // chunked: no length to check up front
      try (OutputStream out = ex.getResponseBody()) {
        out.write(layerBytes);
        out.write(new byte[10]);
      }
    });
    var e = failure(() -> {
      try (InputStream in = client().fetchBlob(ref("test/img"), layer)) {
        in.readAllBytes();
      }
    });
    assertKind(e, ErrorKind.DATA_LOSS);
    assertThat(e.getMessage()).contains("more than");
  }

  @Test
  void manifestDigestMismatchIsDataLoss() throws Exception {
    byte[] forged = manifestBytes.clone();
    forged[forged.length - 2] = ' ';
    server.on("/v2/test/img/manifests/.*", (ex, r) ->
        CannedServer.send(ex, 200, Map.of("Content-Type", MediaTypes.OCI_MANIFEST), forged));
    var e = failure(() -> client().fetchManifest(ref("test/img"), manifest));
    assertKind(e, ErrorKind.DATA_LOSS);
    assertThat(e.getMessage()).contains("digest mismatch").contains(manifest.digest().toString());
  }

  @Test
  void manifestSizeMismatchIsDataLoss() throws Exception {
    server.on("/v2/test/img/manifests/.*", (ex, r) ->
        CannedServer.send(ex, 200, Map.of("Content-Type", MediaTypes.OCI_MANIFEST),
            Arrays.copyOf(manifestBytes, manifestBytes.length - 3)));
    assertKind(failure(() -> client().fetchManifest(ref("test/img"), manifest)), ErrorKind.DATA_LOSS);

    // Longer than the descriptor, without a length up front (chunked): cut at size + 1.
    server.on("/v2/test/img/manifests/.*", (ex, r) -> {
      ex.getResponseHeaders().add("Content-Type", MediaTypes.OCI_MANIFEST);
      ex.sendResponseHeaders(200, 0);
      try (OutputStream out = ex.getResponseBody()) {
        out.write(manifestBytes);
        out.write(new byte[1 << 20]);
      }
    });
    var e = failure(() -> client().fetchManifest(ref("test/img"), manifest));
    assertKind(e, ErrorKind.DATA_LOSS);
    assertThat(e.getMessage()).contains("more than the descriptor's " + manifest.size() + " bytes");
  }

  @Test
  void blobDigestMismatchIsDataLossWhenVerified() throws Exception {
    byte[] other = layerBytes.clone();
    other[12345] ^= 1;
    server.on("/v2/test/img/blobs/.*", (ex, r) -> CannedServer.send(ex, 200, Map.of(), other));
    var e = failure(() -> client().readBlob(ref("test/img"), layer));
    assertKind(e, ErrorKind.DATA_LOSS);
    assertThat(e.getMessage()).contains("digest mismatch").contains(layer.digest().toString());
  }

  @Test
  void schema1IsRefused() throws Exception {
    server.on("/v2/test/img/manifests/.*", (ex, r) ->
        CannedServer.send(ex, 200, Map.of("Content-Type", MediaTypes.DOCKER_SCHEMA1_SIGNED,
            "Docker-Content-Digest", manifest.digest().toString()),
            "{\"schemaVersion\":1,\"name\":\"test/img\",\"tag\":\"v1\",\"fsLayers\":[]}"));
    var e = failure(() -> client().resolve(ref("test/img:v1")));
    assertKind(e, ErrorKind.NOT_IMPLEMENTED);
    assertThat(e.getMessage()).contains("schema 1");
  }
}
