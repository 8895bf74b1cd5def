package dev.lamina.metrics;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP endpoint Prometheus scrapes (the JDK's server, on one thread):
 *
 * <ul>
 *   <li>{@code /metrics}: the registry in the format the {@code Accept} header asks for, Prometheus
 *       text 0.0.4 or OpenMetrics 1.0 (text when it asks for neither);
 *   <li>{@code /healthz}: 200 while the process serves HTTP at all;
 *   <li>{@code /readyz}: 200 once the daemon serves its sockets, 503 before and while stopping.
 * </ul>
 *
 * Every answer is from memory: sizes are measured in the background.
 */
public final class MetricsEndpoint implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(MetricsEndpoint.class);

  private final HttpServer server;
  private final ExecutorService executor;
  private final PrometheusMeterRegistry registry;
  static final String OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8";
  static final String TEXT = "text/plain; version=0.0.4; charset=utf-8";
  private final BooleanSupplier ready;

  private MetricsEndpoint(HttpServer server, PrometheusMeterRegistry registry, BooleanSupplier ready) {
    this.server = server;
    this.registry = registry;
    this.ready = ready;
    this.executor = Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "lamina-metrics-http");
      t.setDaemon(true);
      return t;
    });
    server.setExecutor(executor);
    server.createContext("/metrics", this::metrics);
    server.createContext("/healthz", x -> text(x, 200, "ok\n"));
    server.createContext("/readyz", x -> {
      boolean r = ready.getAsBoolean();
      text(x, r ? 200 : 503, r ? "ready\n" : "not ready\n");
    });
  }

  /** Binds {@code address} and starts answering. */
  public static MetricsEndpoint start(InetSocketAddress address, PrometheusMeterRegistry registry,
      BooleanSupplier ready) throws IOException {
    HttpServer server;
    try {
      server = HttpServer.create(address, 64);
    } catch (IOException e) {
      throw new IOException("cannot serve metrics on " + address + ": " + e.getMessage(), e);
    }
    MetricsEndpoint endpoint = new MetricsEndpoint(server, registry, ready);
    server.start();
    LOG.info("serving metrics on http://{}:{}/metrics", address.getHostString(), endpoint.port());
    return endpoint;
  }

  /** The bound port (the one picked when the address asked for port 0). */
  public int port() {
    return server.getAddress().getPort();
  }

  private void metrics(HttpExchange x) throws IOException {
    try (x) {
      if (!x.getRequestMethod().equals("GET") && !x.getRequestMethod().equals("HEAD")) {
        x.getResponseHeaders().set("Allow", "GET, HEAD");
        x.sendResponseHeaders(405, -1);
        return;
      }
      String type = contentType(x.getRequestHeaders().getFirst("Accept"));
      ByteArrayOutputStream body = new ByteArrayOutputStream(64 * 1024);
      registry.scrape(body, type);
      x.getResponseHeaders().set("Content-Type", type);
      if (x.getRequestMethod().equals("HEAD")) {
        x.sendResponseHeaders(200, -1);
        return;
      }
      x.sendResponseHeaders(200, body.size());
      try (OutputStream out = x.getResponseBody()) {
        body.writeTo(out);
      }
    } catch (IOException | RuntimeException e) {
      LOG.debug("metrics scrape failed: {}", e.toString());
      throw e;
    }
  }

  /** OpenMetrics when the scraper accepts it (Prometheus asks for it first), else Prometheus text. */
  static String contentType(String accept) {
    return accept != null && accept.contains("application/openmetrics-text") ? OPENMETRICS : TEXT;
  }

  private static void text(HttpExchange x, int status, String body) throws IOException {
    try (x) {
      byte[] b = body.getBytes(StandardCharsets.UTF_8);
      x.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
      x.sendResponseHeaders(status, b.length);
      try (OutputStream out = x.getResponseBody()) {
        out.write(b);
      }
    }
  }

  /**
   * {@code host:port}, {@code [v6]:port} or {@code :port} (every interface) as a socket address.
   *
   * @throws IllegalArgumentException naming what is wrong
   */
  public static InetSocketAddress parseAddress(String text) {
    int colon = text.lastIndexOf(':');
    if (colon < 0) {
      throw new IllegalArgumentException("metrics address " + text + " has no port; give HOST:PORT, e.g. 127.0.0.1:9464");
    }
    String host = text.substring(0, colon);
    int port;
    try {
      port = Integer.parseInt(text.substring(colon + 1));
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("metrics address " + text + ": port is not a number");
    }
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("metrics address " + text + ": port out of range");
    }
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    return host.isEmpty() ? new InetSocketAddress(port) : new InetSocketAddress(host, port);
  }

  @Override
  public void close() {
    server.stop(0);
    executor.shutdownNow();
  }
}
