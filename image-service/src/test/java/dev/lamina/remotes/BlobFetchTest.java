package dev.lamina.remotes;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.digest.Digest;
import dev.lamina.errdefs.ErrorKind;
import java.io.InputStream;
import java.io.OutputStream;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Range resume, redirects to blob storage, resuming broken connections. */
class BlobFetchTest extends CannedRegistryTestBase {

  /** The hash of the first {@code n} bytes of the layer, as a caller holding them has it. */
  private MessageDigest prefix(int n) {
    MessageDigest state = Digest.newSha256();
    state.update(layerBytes, 0, n);
    return state;
  }

  @Test
  void resumesWithARangeRequest() throws Exception {
    try (InputStream in = client().fetchBlob(ref("test/img"), layer, 1000, prefix(1000))) {
      assertThat(in.readAllBytes()).isEqualTo(Arrays.copyOfRange(layerBytes, 1000, layerBytes.length));
    }
    var req = server.requests("/v2/test/img/blobs/.*").get(0);
    assertThat(req.header("Range")).isEqualTo("bytes=1000-");
  }

  @Test
  void skipsWhatItHasWhenTheRegistryIgnoresTheRange() throws Exception {
    registry.honourRange = false;
    try (InputStream in = client().fetchBlob(ref("test/img"), layer, 70_000, prefix(70_000))) {
      assertThat(in.readAllBytes()).isEqualTo(Arrays.copyOfRange(layerBytes, 70_000, layerBytes.length));
    }
  }

  @Test
  void verifiesAResumedDownloadWithTheEarlierDigestState() throws Exception {
    try (InputStream in = client().fetchBlob(ref("test/img"), layer, 1000, prefix(1000))) {
      assertThat(in.readAllBytes()).hasSize(layerBytes.length - 1000);
    }
    MessageDigest wrong = Digest.newSha256();
    wrong.update(new byte[1000]);
    var e = failure(() -> {
      try (InputStream in = client().fetchBlob(ref("test/img"), layer, 1000, wrong)) {
        in.readAllBytes();
      }
    });
    assertKind(e, ErrorKind.DATA_LOSS);
    assertThat(e.getMessage()).contains("digest mismatch").contains(layer.digest().toString());
  }

  @Test
  void aWholeBlobIsVerifiedAtItsEnd() throws Exception {
    byte[] other = layerBytes.clone();
    other[54321] ^= 1;
    server.on("/v2/test/img/blobs/.*", (ex, r) -> CannedServer.send(ex, 200, Map.of(), other));
    var e = failure(() -> {
      try (InputStream in = client().fetchBlob(ref("test/img"), layer)) {
        assertThat(in.readNBytes(layerBytes.length)).hasSize(layerBytes.length); // every byte comes through
        in.read();
      }
    });
    assertKind(e, ErrorKind.DATA_LOSS);
    assertThat(e.getMessage()).contains("digest mismatch").contains(layer.digest().toString());
  }

  @Test
  void badContentRangeIsDataLoss() throws Exception {
    server.on("/v2/test/img/blobs/.*", (ex, r) -> CannedServer.send(ex, 206,
        Map.of("Content-Range", "bytes 0-" + (layerBytes.length - 1) + "/" + layerBytes.length), layerBytes));
    var e = failure(() -> client().fetchBlob(ref("test/img"), layer, 10, prefix(10)));
    assertKind(e, ErrorKind.DATA_LOSS);
    assertThat(e.getMessage()).contains("asked for bytes 10-");
  }

  @Test
  void followsRedirectsToStorageWithoutAuthorization() throws Exception {
    try (CannedServer storage = new CannedServer()) {
      storage.on("/storage/.*", (ex, r) -> CannedServer.send(ex, 200, Map.of(), layerBytes));
      registry.gate = (ex, r) -> {
        if ("Bearer secret-token".equals(r.header("Authorization"))) {
          if (r.path().contains("/blobs/")) {
            ex.getResponseHeaders().add("Location", storage.url() + "/storage/blob?sig=abc");
            ex.sendResponseHeaders(307, -1);
            return false;
          }
          return true;
        }
        ex.getResponseHeaders().add("WWW-Authenticate", "Bearer realm=\"" + server.url() + "/token\",service=\"s\"");
        FakeRegistry.error(ex, 401, "UNAUTHORIZED", "authentication required");
        return false;
      };
      server.on("/token", (ex, r) -> CannedServer.send(ex, 200, Map.of(), "{\"token\":\"secret-token\"}"));

      assertThat(client().readBlob(ref("test/img"), layer)).isEqualTo(layerBytes);

      var blobRequests = server.requests("/v2/test/img/blobs/.*");
      assertThat(blobRequests.get(blobRequests.size() - 1).header("Authorization")).isEqualTo("Bearer secret-token");
      assertThat(storage.requests("/storage/.*")).hasSize(1);
      assertThat(storage.requests("/storage/.*").get(0).header("Authorization")).isNull();
      assertThat(storage.requests("/storage/.*").get(0).query()).isEqualTo("sig=abc");
    }
  }

  @Test
  void sameHostRedirectKeepsAuthorization() throws Exception {
    registry.gate = (ex, r) -> {
      if (!"Basic dTpw".equals(r.header("Authorization"))) {
        ex.getResponseHeaders().add("WWW-Authenticate", "Basic realm=\"r\"");
        FakeRegistry.error(ex, 401, "UNAUTHORIZED", "authentication required");
        return false;
      }
      return true;
    };
    server.on("/v2/test/img/blobs/.*", (ex, r) -> {
      if (!"Basic dTpw".equals(r.header("Authorization"))) {
        ex.getResponseHeaders().add("WWW-Authenticate", "Basic realm=\"r\"");
        FakeRegistry.error(ex, 401, "UNAUTHORIZED", "authentication required");
        return;
      }
      ex.getResponseHeaders().add("Location", "/same-host/blob");
      ex.sendResponseHeaders(302, -1);
    });
    server.on("/same-host/.*", (ex, r) -> CannedServer.send(ex, 200, Map.of(), layerBytes));
    RegistryClient c = client().withCredentials(dev.lamina.remotes.auth.Credentials.basic("u", "p"));
    assertThat(c.readBlob(ref("test/img"), layer)).isEqualTo(layerBytes);
    assertThat(server.requests("/same-host/.*").get(0).header("Authorization")).isEqualTo("Basic dTpw");
  }

  @Test
  void resumesABrokenConnectionFromWhereItBroke() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    server.on("/v2/test/img/blobs/.*", (ex, r) -> {
      if (calls.incrementAndGet() == 1) {
        ex.sendResponseHeaders(200, layerBytes.length);
        OutputStream out = ex.getResponseBody();
        out.write(layerBytes, 0, 100_000);
        out.flush();
        throw new RuntimeException("connection reset"); // the exchange closes short: the client sees EOF
      }
      long start = Long.parseLong(r.header("Range").replaceAll("bytes=(\\d+)-", "$1"));
      CannedServer.send(ex, 206, Map.of("Content-Range",
          "bytes " + start + "-" + (layerBytes.length - 1) + "/" + layerBytes.length),
          Arrays.copyOfRange(layerBytes, (int) start, layerBytes.length));
    });
    try (InputStream in = client().fetchBlob(ref("test/img"), layer)) {
      assertThat(in.readAllBytes()).isEqualTo(layerBytes);
    }
    assertThat(calls).hasValue(2);
    assertThat(server.requests("/v2/test/img/blobs/.*").get(1).header("Range")).matches("bytes=\\d+-");
  }

  @Test
  void connectionThatKeepsBreakingIsUnavailable() throws Exception {
    server.on("/v2/test/img/blobs/.*", (ex, r) -> {
      ex.sendResponseHeaders(200, layerBytes.length);
      OutputStream out = ex.getResponseBody();
      out.write(layerBytes, 0, 100_000);
      out.flush();
      throw new RuntimeException("connection reset");
    });
    registry.honourRange = false;
    var e = failure(() -> {
      try (InputStream in = new RegistryClient(options().withMaxResumes(1)).fetchBlob(ref("test/img"), layer)) {
        in.readAllBytes();
      }
    });
    assertKind(e, ErrorKind.UNAVAILABLE);
    assertThat(e.getMessage()).contains("the connection broke after");
  }

  @Test
  void offsetAtTheEndReadsNothingAndBeyondIsInvalid() throws Exception {
    try (InputStream in = client().fetchBlob(ref("test/img"), layer, layer.size(), prefix(layerBytes.length))) {
      assertThat(in.read()).isEqualTo(-1);
    }
    assertKind(failure(() -> client().fetchBlob(ref("test/img"), layer, layer.size() + 1, prefix(0))),
        ErrorKind.INVALID_ARGUMENT);
    assertThat(server.requests("/v2/.*")).isEmpty();
  }
}
