package dev.lamina.warmup;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Serves one {@link GeneratedImage} as repository {@code warmup} over the distribution API on
 * 127.0.0.1 (plain http, ephemeral port, no authentication): {@code /v2/}, its manifest by tag or
 * digest, its blobs. Nothing else answers.
 */
public final class LoopbackRegistry implements Closeable {
  public static final String REPOSITORY = "warmup";
  public static final String TAG = "latest";

  private final HttpServer server;
  private final ExecutorService executor;
  private final GeneratedImage image;

  /** The image served. */
  public GeneratedImage image() {
    return image;
  }

  public LoopbackRegistry(GeneratedImage image) throws IOException {
    this.image = image;
    this.server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
    this.executor = Executors.newFixedThreadPool(3, r -> {
      Thread t = new Thread(r, "lamina-warmup-registry");
      t.setDaemon(true);
      return t;
    });
    server.setExecutor(executor);
    server.createContext("/v2/", this::handle);
    server.start();
  }

  /** {@code 127.0.0.1:<port>}. */
  public String authority() {
    return server.getAddress().getAddress().getHostAddress() + ":" + server.getAddress().getPort();
  }

  private void handle(HttpExchange ex) throws IOException {
    try (ex) {
      String path = ex.getRequestURI().getPath();
      String manifests = "/v2/" + REPOSITORY + "/manifests/";
      String blobs = "/v2/" + REPOSITORY + "/blobs/";
      if (path.equals("/v2/")) {
        reply(ex, 200, "application/json", null, "{}".getBytes());
      } else if (path.startsWith(manifests)) {
        String ref = path.substring(manifests.length());
        String digest = image.manifestDigest().toString();
        if (ref.equals(TAG) || ref.equals(digest)) {
          reply(ex, 200, GeneratedImage.MANIFEST_TYPE, digest, image.manifest());
        } else {
          reply(ex, 404, "application/json", null, new byte[0]);
        }
      } else if (path.startsWith(blobs)) {
        String digest = path.substring(blobs.length());
        Path layer = image.layers().get(digest);
        if (digest.equals(image.configDigest().toString())) {
          reply(ex, 200, "application/octet-stream", digest, image.config());
        } else if (layer != null) {
          reply(ex, 200, "application/octet-stream", digest, Files.size(layer), out -> Files.copy(layer, out));
        } else {
          reply(ex, 404, "application/json", null, new byte[0]);
        }
      } else {
        reply(ex, 404, "application/json", null, new byte[0]);
      }
    }
  }

  private interface Body {
    void writeTo(OutputStream out) throws IOException;
  }

  private static void reply(HttpExchange ex, int status, String type, String digest, byte[] body) throws IOException {
    reply(ex, status, type, digest, body.length, out -> out.write(body));
  }

  /** Headers as docker-registry sends them; no body for HEAD or an empty one. */
  private static void reply(HttpExchange ex, int status, String type, String digest, long length, Body body)
      throws IOException {
    Map<String, List<String>> h = ex.getResponseHeaders();
    h.put("Content-Type", List.of(type));
    h.put("Docker-Distribution-API-Version", List.of("registry/2.0"));
    if (digest != null) {
      h.put("Docker-Content-Digest", List.of(digest));
    }
    if (ex.getRequestMethod().equals("HEAD")) {
      h.put("Content-Length", List.of(Long.toString(length)));
      ex.sendResponseHeaders(status, -1);
      return;
    }
    ex.sendResponseHeaders(status, length == 0 ? -1 : length);
    if (length > 0) {
      try (OutputStream out = ex.getResponseBody()) {
        body.writeTo(out);
      }
    }
  }

  @Override
  public void close() {
    server.stop(0);
    executor.shutdownNow();
  }
}
