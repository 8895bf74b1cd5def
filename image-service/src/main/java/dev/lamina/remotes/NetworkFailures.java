package dev.lamina.remotes;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.NoRouteToHostException;
import java.net.Proxy;
import java.net.ProxySelector;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.net.UnknownHostException;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpTimeoutException;
import java.nio.channels.UnresolvedAddressException;
import java.security.cert.CertPathBuilderException;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;
import java.security.cert.CertificateException;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import javax.net.ssl.SSLException;

/**
 * Says in words why a registry could not be reached, and what to do about it: a failed DNS lookup,
 * a refused connection, an untrusted TLS certificate, a timeout, a proxy. The JDK reports most of
 * these as a bare {@code ConnectException} whose cause holds the reason; none of its class names
 * reach the message.
 */
final class NetworkFailures {
  private NetworkFailures() {}

  /** The failure classes, for tests and logs. */
  enum Cause {
    DNS("DNS lookup failed"),
    REFUSED("connection refused"),
    NO_ROUTE("no route to host"),
    TLS_UNTRUSTED("TLS certificate not trusted"),
    TLS_NAME("TLS certificate for another name"),
    TLS_EXPIRED("TLS certificate expired"),
    TLS("TLS handshake failed"),
    CONNECT_TIMEOUT("connect timed out"),
    TIMEOUT("no answer in time"),
    PROXY("proxy failed"),
    RESET("connection closed"),
    OTHER("connection failed");

    private final String words;

    Cause(String words) {
      this.words = words;
    }

    String words() {
      return words;
    }
  }

  /** A cause and its sentence. */
  record Description(Cause cause, String text) {}

  /**
   * Describes {@code e}, raised while talking to {@code authority} ({@code host[:port]}) at {@code
   * uri}.
   */
  static Description describe(IOException e, String authority, URI uri, RegistryOptions options) {
    String host = hostOf(authority);
    String proxy = proxyOf(uri);
    String via = proxy == null ? "" : " (through the proxy " + proxy + ")";
    String proxyHint = "check the proxy settings (-Dhttps.proxyHost, -Dhttp.proxyHost, -Dhttp.nonProxyHosts "
        + "in LAMINA_JAVA_OPTS)";
    String tlsHint = "give the registry's CA certificate as ca = \"/path/ca.pem\" in "
        + "DIR/" + authority + "/hosts.toml (serve --registry-config-dir DIR), or skip_verify = true for a test "
        + "registry";
    String message = messages(e);
    if (has(e, java.net.ConnectException.class) && !has(e, SSLException.class)
        && !has(e, UnresolvedAddressException.class) && !message.contains("refused")) {
      // The JDK's client drops the reason (a ConnectException without message, over a closed
      // channel): connecting once more with a plain socket tells it.
      IOException again = connectOnce(proxy != null ? proxy : authority, uri, options.connectTimeout());
      if (again != null) {
        e = again;
        message = messages(e);
      } else if (has(e, HttpConnectTimeoutException.class) && uri != null && "https".equals(uri.getScheme())) {
        return new Description(Cause.TLS, "connected to " + authority + via + ", but the TLS handshake got no "
            + "answer within " + seconds(options.connectTimeout()) + "; if the registry serves plain HTTP, say "
            + "server = \"http://" + authority + "\" in DIR/" + authority + "/hosts.toml (serve "
            + "--registry-config-dir DIR)");
      }
    }
    if (message.contains("unable to tunnel through proxy")) {
      return new Description(Cause.PROXY, "the proxy " + (proxy == null ? "" : proxy + " ")
          + "refused to connect to " + authority + " (" + proxyAnswer(e) + "): " + proxyHint);
    }
    if (has(e, UnresolvedAddressException.class) || has(e, UnknownHostException.class)) {
      if (proxy != null) {
        return new Description(Cause.PROXY, "DNS lookup of the proxy " + proxy + " failed: " + proxyHint);
      }
      return new Description(Cause.DNS, "DNS lookup of " + host + " failed: check the registry's name in the "
          + "image reference, or the node's DNS (/etc/resolv.conf)");
    }
    if (has(e, HttpConnectTimeoutException.class) || message.contains("connect timed out")) {
      return new Description(proxy != null ? Cause.PROXY : Cause.CONNECT_TIMEOUT, "connecting to " + authority + via
          + " timed out after " + seconds(options.connectTimeout())
          + ": the host may be down, or a firewall drops the packets; check the network between this node and it");
    }
    if (has(e, HttpTimeoutException.class) || has(e, SocketTimeoutException.class)) {
      return new Description(Cause.TIMEOUT, authority + via + " accepted the connection but sent no answer within "
          + seconds(options.responseTimeout()) + ": the registry is overloaded or hung, or something on the way "
          + "holds the connection; try again, or check the registry");
    }
    if (message.contains("connection refused")) {
      if (proxy != null) {
        return new Description(Cause.PROXY, "connection to the proxy " + proxy + " refused: " + proxyHint);
      }
      return new Description(Cause.REFUSED, "connection to " + authority + " refused: nothing listens there; "
          + "check that the registry runs and the port in the image reference (or in hosts.toml) is its port");
    }
    if (has(e, NoRouteToHostException.class) || message.contains("no route to host")
        || message.contains("network is unreachable")) {
      return new Description(Cause.NO_ROUTE, "no route to " + authority + via
          + ": check the node's network and routes to the registry");
    }
    if (has(e, CertificateExpiredException.class) || has(e, CertificateNotYetValidException.class)) {
      return new Description(Cause.TLS_EXPIRED, "the TLS certificate of " + authority
          + " is expired or not yet valid: renew the registry's certificate, or check the node's clock");
    }
    if (has(e, CertPathBuilderException.class) || has(e, CertPathValidatorException.class)
        || message.contains("unable to find valid certification path")) {
      return new Description(Cause.TLS_UNTRUSTED, "the TLS certificate of " + authority
          + " is not trusted (signed by an unknown authority): " + tlsHint);
    }
    if (has(e, CertificateException.class)) {
      return new Description(Cause.TLS_NAME, "the TLS certificate of " + authority + " does not match " + host
          + " (" + firstMessage(e, CertificateException.class) + "): use the name the certificate is for, or "
          + tlsHint);
    }
    if (has(e, SSLException.class)) {
      return new Description(Cause.TLS, "the TLS handshake with " + authority + via + " failed ("
          + firstMessage(e, SSLException.class) + "); if the registry serves plain HTTP, say server = \"http://"
          + authority + "\" in DIR/" + authority + "/hosts.toml (serve --registry-config-dir DIR)");
    }
    if (message.contains("connection reset") || message.contains("closed") || message.contains("eof")) {
      return new Description(Cause.RESET, authority + via + " closed the connection before answering: the "
          + "registry or something in front of it dropped the request; try again");
    }
    return new Description(proxy != null ? Cause.PROXY : Cause.OTHER,
        "cannot reach " + authority + via + ": " + plain(e));
  }

  /** Connects to {@code authority} with a plain socket: null when that works, else its failure. */
  private static IOException connectOnce(String authority, URI uri, Duration timeout) {
    String host = hostOf(authority);
    int port;
    int colon = authority.lastIndexOf(':');
    if (colon > authority.lastIndexOf(']') && colon > 0) {
      port = Integer.parseInt(authority.substring(colon + 1));
    } else {
      port = uri != null && "http".equals(uri.getScheme()) ? 80 : 443;
    }
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress(host, port), (int) Math.min(Integer.MAX_VALUE, timeout.toMillis()));
      return null;
    } catch (IOException | RuntimeException e) {
      return e instanceof IOException io ? io : new IOException(e.getMessage(), e);
    }
  }

  /** Every message in the cause chain, lower case, joined. */
  private static String messages(Throwable e) {
    StringBuilder b = new StringBuilder();
    for (Throwable c = e; c != null; c = c.getCause()) {
      if (c.getMessage() != null) {
        b.append(c.getMessage().toLowerCase(Locale.ROOT)).append(" | ");
      }
    }
    return b.toString();
  }

  private static boolean has(Throwable e, Class<? extends Throwable> type) {
    for (Throwable c = e; c != null; c = c.getCause()) {
      if (type.isInstance(c)) {
        return true;
      }
    }
    return false;
  }

  private static String firstMessage(Throwable e, Class<? extends Throwable> type) {
    for (Throwable c = e; c != null; c = c.getCause()) {
      if (type.isInstance(c) && c.getMessage() != null) {
        return stripClassNames(c.getMessage());
      }
    }
    return "no detail";
  }

  /** The first message in the chain, without the {@code java.x.YException: } prefixes causes carry. */
  private static String plain(Throwable e) {
    for (Throwable c = e; c != null; c = c.getCause()) {
      if (c.getMessage() != null && !c.getMessage().isBlank()) {
        return stripClassNames(c.getMessage());
      }
    }
    return "the connection failed";
  }

  static String stripClassNames(String s) {
    return s.replaceAll("\\b(?:[a-z][a-z0-9_]*\\.)+[A-Z][A-Za-z0-9_$]*(?:Exception|Error)\\b:? ?", "").trim();
  }

  /** What the proxy answered a CONNECT with: {@code HTTP/1.1 407 ...}. */
  private static String proxyAnswer(Throwable e) {
    for (Throwable c = e; c != null; c = c.getCause()) {
      String m = c.getMessage();
      if (m != null && m.contains("Proxy returns")) {
        return "it answered " + m.substring(m.indexOf("Proxy returns") + "Proxy returns".length()).trim()
            .replace("\"", "");
      }
    }
    return "no detail";
  }

  /** The proxy the JDK's default selector picks for {@code uri}, or null for a direct connection. */
  private static String proxyOf(URI uri) {
    if (uri == null) {
      return null;
    }
    ProxySelector selector = ProxySelector.getDefault();
    if (selector == null) {
      return null;
    }
    try {
      List<Proxy> proxies = selector.select(uri);
      for (Proxy p : proxies) {
        if (p.type() != Proxy.Type.DIRECT && p.address() instanceof InetSocketAddress a) {
          return a.getHostString() + ":" + a.getPort();
        }
      }
    } catch (RuntimeException e) {
      return null;
    }
    return null;
  }

  private static String hostOf(String authority) {
    if (authority.startsWith("[")) {
      return authority.substring(1, Math.max(1, authority.indexOf(']')));
    }
    int colon = authority.lastIndexOf(':');
    return colon > 0 ? authority.substring(0, colon) : authority;
  }

  private static String seconds(Duration d) {
    long ms = d.toMillis();
    return ms % 1000 == 0 ? ms / 1000 + " s" : String.format(Locale.ROOT, "%.1f s", ms / 1000.0);
  }
}
