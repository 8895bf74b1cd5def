package dev.lamina.images;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.lamina.digest.Digest;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A canned OCI registry on 127.0.0.1 (plain http): manifests by tag or digest, blobs with Range
 * support, a log of every request, and faults to inject per blob (other bytes, a connection
 * dropped part way, a gate that holds blob bodies back).
 */
public final class TestRegistry implements AutoCloseable {
  private static final Pattern ROUTE = Pattern.compile("/v2/(.+)/(manifests|blobs)/([^/]+)");

  record Request(String method, String path, String range) {
    boolean isBlob() {
      return path.contains("/blobs/");
    }

    boolean isManifest() {
      return path.contains("/manifests/");
    }
  }

  record Content(String mediaType, byte[] bytes) {}

  /** Drops the connection after {@code after} bytes of a blob body, {@code times} times. */
  record Drop(long after, AtomicInteger times) {}

  final Map<String, Content> manifests = new ConcurrentHashMap<>();
  final Map<String, byte[]> blobs = new ConcurrentHashMap<>();
  /** Bytes served instead of a blob's own, by digest. */
  final Map<String, byte[]> corrupt = new ConcurrentHashMap<>();
  final Map<String, Drop> drops = new ConcurrentHashMap<>();
  final List<Request> log = new CopyOnWriteArrayList<>();
  /** When set, blob bodies wait for it. */
  volatile CountDownLatch gate;

  private final HttpServer server;
  private final ExecutorService executor = Executors.newCachedThreadPool();

  public TestRegistry() throws IOException {
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
    server.setExecutor(executor);
    server.createContext("/", this::handle);
    server.start();
  }

  public String authority() {
    return "127.0.0.1:" + server.getAddress().getPort();
  }

  /** A hosts directory that makes the registry client speak plain http to this registry. */
  Path hostsDir(Path dir) throws IOException {
    Path d = dir.resolve(authority());
    Files.createDirectories(d);
    Files.writeString(d.resolve("hosts.toml"), "server = \"http://" + authority() + "\"\n");
    return dir;
  }

  void putBlob(byte[] bytes) {
    blobs.put(Digest.sha256Of(bytes).toString(), bytes);
  }

  void putManifest(String repo, String tag, String mediaType, byte[] bytes) {
    Content c = new Content(mediaType, bytes);
    manifests.put(repo + "@" + Digest.sha256Of(bytes), c);
    if (tag != null) {
      manifests.put(repo + "@" + tag, c);
    }
  }

  List<Request> blobGets() {
    return log.stream().filter(r -> r.isBlob() && r.method().equals("GET")).toList();
  }

  long blobGets(Digest d) {
    return log.stream().filter(r -> r.isBlob() && r.method().equals("GET") && r.path().endsWith("/" + d)).count();
  }

  List<Request> manifestRequests() {
    return log.stream().filter(Request::isManifest).toList();
  }

  List<Request> rangeRequests() {
    return log.stream().filter(r -> r.range() != null).toList();
  }

  private void handle(HttpExchange ex) throws IOException {
    try {
      ex.getRequestBody().readAllBytes();
      String path = ex.getRequestURI().getPath();
      String range = ex.getRequestHeaders().getFirst("Range");
      log.add(new Request(ex.getRequestMethod(), path, range));
      if (path.equals("/v2/") || path.equals("/v2")) {
        send(ex, 200, "application/json", "{}".getBytes(StandardCharsets.UTF_8));
        return;
      }
      Matcher m = ROUTE.matcher(path);
      if (!m.matches()) {
        error(ex, 404, "NAME_UNKNOWN");
        return;
      }
      String repo = m.group(1);
      String ref = m.group(3);
      if (m.group(2).equals("manifests")) {
        Content c = manifests.get(repo + "@" + ref);
        if (c == null) {
          error(ex, 404, "MANIFEST_UNKNOWN");
          return;
        }
        ex.getResponseHeaders().add("Docker-Content-Digest", Digest.sha256Of(c.bytes()).toString());
        send(ex, 200, c.mediaType(), c.bytes());
        return;
      }
      byte[] blob = corrupt.getOrDefault(ref, blobs.get(ref));
      if (blob == null) {
        error(ex, 404, "BLOB_UNKNOWN");
        return;
      }
      CountDownLatch g = gate;
      if (g != null && ex.getRequestMethod().equals("GET")) {
        g.await(30, TimeUnit.SECONDS);
      }
      int start = 0;
      int status = 200;
      if (range != null) {
        start = Integer.parseInt(range.replaceAll("bytes=(\\d+)-", "$1"));
        status = 206;
        ex.getResponseHeaders().add("Content-Range", "bytes " + start + "-" + (blob.length - 1) + "/" + blob.length);
      }
      byte[] body = Arrays.copyOfRange(blob, start, blob.length);
      Drop drop = drops.get(ref);
      if (drop != null && ex.getRequestMethod().equals("GET") && drop.times().getAndDecrement() > 0) {
        // announce the whole body, send part of it, and cut the connection
        ex.getResponseHeaders().add("Content-Type", "application/octet-stream");
        ex.sendResponseHeaders(status, body.length);
        OutputStream out = ex.getResponseBody();
        int n = (int) Math.min(body.length, Math.max(0, drop.after() - start));
        out.write(body, 0, n);
        out.flush();
        throw new IOException("dropping the connection on purpose");
      }
      send(ex, status, "application/octet-stream", body);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      ex.close();
    }
  }

  private static void error(HttpExchange ex, int status, String code) throws IOException {
    send(ex, status, "application/json",
        ("{\"errors\":[{\"code\":\"" + code + "\",\"message\":\"" + code + "\"}]}").getBytes(StandardCharsets.UTF_8));
  }

  private static void send(HttpExchange ex, int status, String type, byte[] body) throws IOException {
    ex.getResponseHeaders().add("Content-Type", type);
    if (ex.getRequestMethod().equals("HEAD")) {
      ex.getResponseHeaders().set("Content-Length", String.valueOf(body.length));
      ex.sendResponseHeaders(status, -1);
      return;
    }
    ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(body);
    }
  }

  @Override
  public void close() {
    CountDownLatch g = gate;
    if (g != null) {
      while (g.getCount() > 0) {
        g.countDown();
      }
    }
    server.stop(0);
    executor.shutdownNow();
  }
}
