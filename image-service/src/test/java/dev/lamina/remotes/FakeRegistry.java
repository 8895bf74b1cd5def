package dev.lamina.remotes;

import com.sun.net.httpserver.HttpExchange;
import dev.lamina.digest.Digest;
import dev.lamina.oci.Descriptor;
import dev.lamina.oci.Fixtures;
import java.io.IOException;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A small registry on a {@link CannedServer}: manifests by tag or digest, blobs with Range support,
 * behind an optional auth gate.
 */
final class FakeRegistry {
  /** Decides whether a request may pass; when not, it answers (401, ...) and returns false. */
  interface Gate {
    boolean admit(HttpExchange ex, CannedServer.Recorded r) throws IOException;
  }

  private static final Pattern ROUTE = Pattern.compile("/v2/(.+)/(manifests|blobs)/([^/]+)");
  static final String JSON = "application/json";

  record Content(String mediaType, byte[] bytes) {}

  final Map<String, Content> manifests = new ConcurrentHashMap<>(); // "repo@ref" -> content
  final Map<String, byte[]> blobs = new ConcurrentHashMap<>(); // digest -> bytes
  volatile Gate gate = (ex, r) -> true;
  volatile boolean honourRange = true;
  volatile boolean headDigest = true;

  FakeRegistry(CannedServer server) {
    server.on("/v2/?", (ex, r) -> {
      if (gate.admit(ex, r)) {
        CannedServer.send(ex, 200, Map.of("Content-Type", JSON), "{}");
      }
    });
    server.on("/v2/.+", this::handle);
  }

  /** Serves a manifest under its digest and, when tag is not null, under the tag. */
  Descriptor putManifest(String repo, String tag, String mediaType, byte[] bytes) {
    Descriptor d = Fixtures.desc(mediaType, bytes);
    manifests.put(repo + "@" + d.digest(), new Content(mediaType, bytes));
    if (tag != null) {
      manifests.put(repo + "@" + tag, new Content(mediaType, bytes));
    }
    return d;
  }

  Descriptor putBlob(String mediaType, byte[] bytes) {
    Descriptor d = Fixtures.desc(mediaType, bytes);
    blobs.put(d.digest().toString(), bytes);
    return d;
  }

  private void handle(HttpExchange ex, CannedServer.Recorded r) throws IOException {
    Matcher m = ROUTE.matcher(r.path());
    if (!m.matches()) {
      error(ex, 404, "NAME_UNKNOWN", "repository name not known to registry");
      return;
    }
    if (!gate.admit(ex, r)) {
      return;
    }
    String repo = m.group(1);
    String ref = m.group(3);
    if (m.group(2).equals("manifests")) {
      Content c = manifests.get(repo + "@" + ref);
      if (c == null) {
        error(ex, 404, "MANIFEST_UNKNOWN", "manifest unknown");
        return;
      }
      Map<String, String> h = new java.util.HashMap<>();
      h.put("Content-Type", c.mediaType());
      if (headDigest || !r.method().equals("HEAD")) {
        h.put("Docker-Content-Digest", Digest.sha256Of(c.bytes()).toString());
      }
      CannedServer.send(ex, 200, h, c.bytes());
      return;
    }
    byte[] blob = blobs.get(ref);
    if (blob == null) {
      error(ex, 404, "BLOB_UNKNOWN", "blob unknown to registry");
      return;
    }
    String range = r.header("Range");
    if (range != null && honourRange) {
      long start = Long.parseLong(range.replaceAll("bytes=(\\d+)-", "$1"));
      byte[] rest = Arrays.copyOfRange(blob, (int) start, blob.length);
      CannedServer.send(ex, 206, Map.of("Content-Type", "application/octet-stream",
          "Content-Range", "bytes " + start + "-" + (blob.length - 1) + "/" + blob.length), rest);
      return;
    }
    CannedServer.send(ex, 200, Map.of("Content-Type", "application/octet-stream"), blob);
  }

  static void error(HttpExchange ex, int status, String code, String message) throws IOException {
    CannedServer.send(ex, status, Map.of("Content-Type", JSON),
        "{\"errors\":[{\"code\":\"" + code + "\",\"message\":\"" + message + "\",\"detail\":null}]}");
  }
}
