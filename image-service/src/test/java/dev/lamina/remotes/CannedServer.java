package dev.lamina.remotes;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/** A canned-response HTTP server on 127.0.0.1 with a log of what it was asked. */
final class CannedServer implements AutoCloseable {
  /** Answers one request. */
  interface Handler {
    void handle(HttpExchange ex, Recorded req) throws IOException;
  }

  /** A request as the server saw it. */
  record Recorded(String method, String path, String query, Map<String, List<String>> headers, byte[] body) {
    String header(String name) {
      for (Map.Entry<String, List<String>> e : headers.entrySet()) {
        if (e.getKey().equalsIgnoreCase(name)) {
          return e.getValue().get(0);
        }
      }
      return null;
    }

    String bodyText() {
      return new String(body, StandardCharsets.UTF_8);
    }
  }

  private final HttpServer server;
  private final ExecutorService executor = Executors.newCachedThreadPool();
  private final List<Recorded> log = new CopyOnWriteArrayList<>();
  private final List<Map.Entry<String, Handler>> routes = new ArrayList<>();
  /** Released at close, for handlers that stall. */
  final CountDownLatch release = new CountDownLatch(1);

  private final boolean tls;

  CannedServer() throws IOException {
    this(null, false);
  }

  /** An HTTPS server with {@code tls}; {@code needClientAuth} demands a client certificate. */
  CannedServer(javax.net.ssl.SSLContext tlsContext, boolean needClientAuth) throws IOException {
    this.tls = tlsContext != null;
    if (tlsContext != null) {
      com.sun.net.httpserver.HttpsServer https =
          com.sun.net.httpserver.HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
      https.setHttpsConfigurator(new com.sun.net.httpserver.HttpsConfigurator(tlsContext) {
        @Override
        public void configure(com.sun.net.httpserver.HttpsParameters params) {
          javax.net.ssl.SSLParameters p = tlsContext.getDefaultSSLParameters();
          p.setNeedClientAuth(needClientAuth);
          params.setSSLParameters(p);
        }
      });
      server = https;
    } else {
      server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    }
    server.setExecutor(executor);
    server.createContext("/", this::dispatch);
    server.start();
  }

  /** Routes requests whose path matches the regex {@code pathRegex}; the latest route added wins. */
  synchronized CannedServer on(String pathRegex, Handler h) {
    routes.add(0, Map.entry(pathRegex, h));
    return this;
  }

  int port() {
    return server.getAddress().getPort();
  }

  /** {@code 127.0.0.1:port}. */
  String authority() {
    return "127.0.0.1:" + port();
  }

  String url() {
    return (tls ? "https://" : "http://") + authority();
  }

  List<Recorded> log() {
    return new ArrayList<>(log);
  }

  List<Recorded> requests(String pathRegex) {
    return log.stream().filter(r -> r.path().matches(pathRegex)).toList();
  }

  private void dispatch(HttpExchange ex) throws IOException {
    byte[] body = ex.getRequestBody().readAllBytes();
    Map<String, List<String>> headers = new LinkedHashMap<>();
    ex.getRequestHeaders().forEach((k, v) -> headers.put(k, List.copyOf(v)));
    Recorded r = new Recorded(ex.getRequestMethod(), ex.getRequestURI().getPath(),
        ex.getRequestURI().getRawQuery(), headers, body);
    log.add(r);
    Handler h = null;
    synchronized (this) {
      for (Map.Entry<String, Handler> e : routes) {
        if (r.path().matches(e.getKey())) {
          h = e.getValue();
          break;
        }
      }
    }
    try {
      if (h == null) {
        send(ex, 404, Map.of("Content-Type", "application/json"),
            "{\"errors\":[{\"code\":\"NAME_UNKNOWN\",\"message\":\"no route\"}]}");
      } else {
        h.handle(ex, r);
      }
    } finally {
      ex.close();
    }
  }

  static void send(HttpExchange ex, int status, Map<String, String> headers, String body) throws IOException {
    send(ex, status, headers, body.getBytes(StandardCharsets.UTF_8));
  }

  /** Sends a whole response; for HEAD only the headers, with Content-Length of the body. */
  static void send(HttpExchange ex, int status, Map<String, String> headers, byte[] body) throws IOException {
    headers.forEach((k, v) -> ex.getResponseHeaders().add(k, v));
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
    release.countDown();
    server.stop(0);
    executor.shutdownNow();
    try {
      executor.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
