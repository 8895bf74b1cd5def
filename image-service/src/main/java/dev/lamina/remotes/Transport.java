package dev.lamina.remotes;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.remotes.hosts.RegistryHost;
import dev.lamina.remotes.hosts.TlsContexts;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.security.cert.CertificateException;
import java.security.cert.CertPathValidatorException;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.Flow;
import javax.net.ssl.SSLException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Sends requests: one {@link HttpClient} per TLS setup, redirects followed by hand (no {@code
 * Authorization} to another scheme, host or port), localhost's https-then-http fallback.
 */
final class Transport {
  private static final Logger LOG = LoggerFactory.getLogger(Transport.class);
  static final int MAX_REDIRECTS = 10;
  /**
   * The JDK client's socket read size (its own default is 16 KiB). Every read travels through
   * several publishers and schedulers before a body stream sees it; reading 256 KiB at a time
   * cuts that per-read work 16-fold, about a fifth of a pull's CPU. Read once, when the client
   * classes load, so it is set here, before the first client exists; a value given on the
   * command line wins.
   */
  static final String READ_BUFFER_PROPERTY = "jdk.httpclient.bufsize";
  static final int READ_BUFFER = 256 * 1024;

  static {
    if (System.getProperty(READ_BUFFER_PROPERTY) == null) {
      System.setProperty(READ_BUFFER_PROPERTY, Integer.toString(READ_BUFFER));
    }
  }

  private final RegistryOptions options;
  private final ConcurrentMap<String, HttpClient> clients = new ConcurrentHashMap<>();
  /** Authorities that answered plain HTTP to TLS and have an http fallback. */
  private final ConcurrentMap<String, Boolean> plainHttp = new ConcurrentHashMap<>();

  Transport(RegistryOptions options) {
    this.options = options;
  }

  /**
   * A request.
   *
   * @param method GET, HEAD or POST
   * @param headers extra headers (Accept, Range, the host's configured headers)
   * @param authorization the {@code Authorization} value, or null; sent only to the request's own
   *     scheme, host and port
   * @param contentType for a POST body
   * @param body a POST body, or null
   * @param what for messages: what is being fetched
   */
  record Request(
      String method,
      Map<String, List<String>> headers,
      String authorization,
      String contentType,
      byte[] body,
      String what) {}

  /**
   * The host as it is reached now: a host with an http fallback is probed once for TLS and, when it
   * does not speak it, reached over http from then on.
   */
  RegistryHost effective(RegistryHost host) throws LaminaException {
    if (!host.scheme().equals("https") || !host.httpFallback()) {
      return host;
    }
    Boolean plain = plainHttp.get(host.authority());
    if (plain == null) {
      plain = probePlainHttp(host);
      if (plain != null) {
        plainHttp.put(host.authority(), plain);
        if (plain) {
          LOG.info("{} does not speak TLS; using plain http", host.authority());
        }
      }
    }
    return Boolean.TRUE.equals(plain) ? host.withScheme("http") : host;
  }

  /**
   * Starts a TLS handshake with a loopback host: true when the server answers with something that is
   * not TLS, or answers nothing within {@link #PROBE_TIMEOUT_MS} (a plain HTTP server waits for the
   * end of a request line that a ClientHello may never contain); false when it speaks TLS; null when
   * it cannot be reached (the real request reports that).
   */
  private Boolean probePlainHttp(RegistryHost host) throws LaminaException {
    URI u = URI.create("https://" + host.authority());
    String name = u.getHost();
    if (name.startsWith("[")) {
      name = name.substring(1, name.length() - 1);
    }
    int port = u.getPort() == -1 ? 443 : u.getPort();
    javax.net.ssl.SSLContext ctx = TlsContexts.sslContext(host);
    try (java.net.Socket raw = new java.net.Socket()) {
      try {
        raw.connect(new java.net.InetSocketAddress(name, port),
            (int) Math.min(Integer.MAX_VALUE, options.connectTimeout().toMillis()));
      } catch (IOException e) {
        return null;
      }
      raw.setSoTimeout(PROBE_TIMEOUT_MS);
      try (javax.net.ssl.SSLSocket tls =
          (javax.net.ssl.SSLSocket) ctx.getSocketFactory().createSocket(raw, name, port, false)) {
        tls.startHandshake();
        return false;
      }
    } catch (java.net.SocketTimeoutException e) {
      return true;
    } catch (SSLException e) {
      return !aboutCertificates(e);
    } catch (IOException e) {
      return null;
    }
  }

  static final int PROBE_TIMEOUT_MS = 2000;

  /** Sends {@code route} (below the host's API root, with any query) to {@code host}. */
  Response send(RegistryHost host, String route, Request req) throws IOException {
    RegistryHost h = effective(host);
    try {
      return sendTo(h, h.uri(route), req);
    } catch (SSLException e) {
      if (h.scheme().equals("https") && h.httpFallback() && !aboutCertificates(e)) {
        LOG.info("{} does not speak TLS ({}); falling back to plain http", h.authority(), e.getMessage());
        plainHttp.put(h.authority(), Boolean.TRUE);
        RegistryHost http = h.withScheme("http");
        return sendTo(http, http.uri(route), req);
      }
      throw e;
    }
  }

  private static boolean aboutCertificates(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c instanceof CertificateException || c instanceof CertPathValidatorException) {
        return true;
      }
    }
    return false;
  }

  /** Sends to an absolute URI with {@code tls}'s TLS settings, following redirects for GET and HEAD. */
  Response sendTo(RegistryHost tls, URI uri, Request req) throws IOException {
    HttpClient client = client(tls);
    String authority = authorityOf(uri);
    URI current = uri;
    boolean redirected = false;
    for (int hop = 0; ; hop++) {
      HttpRequest.Builder b =
          HttpRequest.newBuilder(current).timeout(options.responseTimeout());
      if (current.getScheme().equalsIgnoreCase("http")) {
        b.version(HttpClient.Version.HTTP_1_1); // no h2c upgrade dance
      }
      if (req.body() != null) {
        b.method(req.method(), HttpRequest.BodyPublishers.ofByteArray(req.body()));
        b.header("Content-Type", req.contentType());
      } else {
        b.method(req.method(), HttpRequest.BodyPublishers.noBody());
      }
      b.header("User-Agent", options.userAgent());
      req.headers().forEach((k, vs) -> vs.forEach(v -> b.header(k, v)));
      if (req.authorization() != null && authorityOf(current).equals(authority)) {
        b.header("Authorization", req.authorization());
      }
      HttpResponse<Flow.Publisher<List<ByteBuffer>>> r;
      try {
        r = client.send(b.build(), HttpResponse.BodyHandlers.ofPublisher());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new LaminaException(ErrorKind.UNAVAILABLE, "interrupted: " + req.what(), e);
      }
      TimedBodyInputStream body =
          new TimedBodyInputStream(r.body(), options.stallTimeout(), req.what() + " from " + current.getRawAuthority());
      int s = r.statusCode();
      String location = r.headers().firstValue("Location").orElse("");
      boolean isRedirect = s == 301 || s == 302 || s == 303 || s == 307 || s == 308;
      if (!isRedirect || location.isEmpty() || req.body() != null) {
        return new Response(s, r.headers(), current, redirected, body);
      }
      body.close();
      if (hop >= MAX_REDIRECTS) {
        throw LaminaException.invalidArgument(
            req.what() + ": more than " + MAX_REDIRECTS + " redirects from " + uri.getRawAuthority());
      }
      URI next;
      try {
        next = current.resolve(location);
      } catch (IllegalArgumentException e) {
        throw LaminaException.invalidArgument(req.what() + ": invalid redirect location");
      }
      String scheme = next.getScheme() == null ? "" : next.getScheme().toLowerCase(Locale.ROOT);
      if (!scheme.equals("https") && !scheme.equals("http")) {
        throw LaminaException.invalidArgument(req.what() + ": redirect to a non-http URL");
      }
      if (!authorityOf(next).equals(authority)) {
        redirected = true;
      }
      LOG.debug("{}: redirected ({}) to {}", req.what(), s, next.getRawAuthority());
      current = next;
    }
  }

  /** {@code scheme://host:port} with the default port spelled out, lower case. */
  static String authorityOf(URI u) {
    String scheme = Objects.toString(u.getScheme(), "").toLowerCase(Locale.ROOT);
    int port = u.getPort() != -1 ? u.getPort() : scheme.equals("http") ? 80 : 443;
    return scheme + "://" + Objects.toString(u.getHost(), "").toLowerCase(Locale.ROOT) + ":" + port;
  }

  private HttpClient client(RegistryHost host) throws LaminaException {
    String key =
        host.customTls()
            ? host.skipVerify() + "|" + host.caCerts() + "|" + host.clientCerts()
            : "";
    HttpClient c = clients.get(key);
    if (c != null) {
      return c;
    }
    HttpClient.Builder b =
        HttpClient.newBuilder()
            .connectTimeout(options.connectTimeout())
            .followRedirects(HttpClient.Redirect.NEVER)
            .version(HttpClient.Version.HTTP_2);
    if (host.customTls()) {
      b.sslContext(TlsContexts.sslContext(host));
    }
    HttpClient built = b.build();
    HttpClient prev = clients.putIfAbsent(key, built);
    return prev != null ? prev : built;
  }
}
