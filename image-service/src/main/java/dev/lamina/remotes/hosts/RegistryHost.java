package dev.lamina.remotes.hosts;

import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * One place a registry's content can be fetched from: the registry itself ({@link #server()}) or a
 * mirror, with containerd's {@code hosts.toml} settings.
 *
 * @param scheme {@code https} or {@code http}
 * @param authority {@code host[:port]}, e.g. {@code registry-1.docker.io}, {@code [::1]:5000}
 * @param basePath the API root: {@code /v2}, or with {@code override_path} exactly the configured path
 * @param capabilities what this host may be used for
 * @param skipVerify accept any TLS certificate and name
 * @param caCerts PEM files whose certificates are trusted in addition to the system's
 * @param clientCerts TLS client certificates with their keys
 * @param headers extra request headers
 * @param server whether this is the registry itself rather than a mirror
 * @param httpFallback on a TLS failure that is not about the certificate, retry over plain HTTP
 *     (containerd's default for {@code localhost}, {@code 127.0.0.1} and {@code ::1})
 */
public record RegistryHost(
    String scheme,
    String authority,
    String basePath,
    Set<Capability> capabilities,
    boolean skipVerify,
    List<Path> caCerts,
    List<ClientCert> clientCerts,
    Map<String, List<String>> headers,
    boolean server,
    boolean httpFallback) {

  /** containerd's host capabilities. */
  public enum Capability {
    PULL,
    RESOLVE,
    PUSH;

    static Capability parse(String s) {
      return valueOf(s.toUpperCase(Locale.ROOT));
    }
  }

  /**
   * A client certificate.
   *
   * @param cert a PEM file with the certificate chain (and the key, when {@code key} is null)
   * @param key a PEM file with the private key, or null
   */
  public record ClientCert(Path cert, Path key) {}

  public RegistryHost {
    scheme = scheme.toLowerCase(Locale.ROOT);
    if (!scheme.equals("https") && !scheme.equals("http")) {
      throw new IllegalArgumentException("unsupported scheme \"" + scheme + "\"");
    }
    capabilities = capabilities.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(capabilities));
    caCerts = List.copyOf(caCerts);
    clientCerts = List.copyOf(clientCerts);
    Map<String, List<String>> h = new LinkedHashMap<>();
    headers.forEach((k, v) -> h.put(k, List.copyOf(v)));
    headers = java.util.Collections.unmodifiableMap(h);
    while (basePath.endsWith("/")) {
      basePath = basePath.substring(0, basePath.length() - 1);
    }
  }

  /**
   * The default host for a registry: {@code https://authority/v2} with every capability. For
   * {@code localhost}, {@code 127.0.0.1} and {@code ::1} containerd's rules apply: port 80 is plain
   * http; any other port skips certificate verification, and unless it is 443 (or none) tries https
   * and falls back to http when the server does not speak TLS.
   */
  public static RegistryHost defaultFor(String authority, boolean server) {
    String scheme = "https";
    boolean skipVerify = false;
    boolean fallback = false;
    if (isLocalhost(authority)) {
      String port = port(authority);
      if (port.equals("80")) {
        scheme = "http";
      } else {
        skipVerify = true;
        fallback = !port.isEmpty() && !port.equals("443");
      }
    }
    return new RegistryHost(
        scheme, authority, "/v2", EnumSet.allOf(Capability.class), skipVerify, List.of(), List.of(),
        Map.of(), server, fallback);
  }

  /** The port of an authority, or empty. */
  static String port(String authority) {
    int close = authority.lastIndexOf(']');
    int colon = authority.lastIndexOf(':');
    return colon > close ? authority.substring(colon + 1) : "";
  }

  public boolean can(Capability c) {
    return capabilities.contains(c);
  }

  /** Whether TLS needs anything beyond the JDK's defaults. */
  public boolean customTls() {
    return skipVerify || !caCerts.isEmpty() || !clientCerts.isEmpty();
  }

  /** {@code scheme://authority/basePath/route}. */
  public URI uri(String route) {
    StringBuilder sb = new StringBuilder(scheme).append("://").append(authority).append(basePath);
    if (!route.isEmpty()) {
      sb.append('/').append(route);
    } else {
      sb.append('/');
    }
    return URI.create(sb.toString());
  }

  public RegistryHost withScheme(String s) {
    return new RegistryHost(
        s, authority, basePath, capabilities, skipVerify, caCerts, clientCerts, headers, server,
        httpFallback);
  }

  /** {@code localhost}, {@code 127.0.0.1} or {@code ::1}, with any port. */
  public static boolean isLocalhost(String authority) {
    String h = authority;
    if (h.startsWith("[")) {
      int end = h.indexOf(']');
      h = end > 0 ? h.substring(1, end) : h;
    } else {
      int colon = h.indexOf(':');
      h = colon >= 0 ? h.substring(0, colon) : h;
    }
    h = h.toLowerCase(Locale.ROOT);
    return h.equals("localhost") || h.equals("127.0.0.1") || h.equals("::1");
  }

  @Override
  public String toString() {
    List<String> extra = new ArrayList<>();
    if (!server) {
      extra.add("mirror");
    }
    if (skipVerify) {
      extra.add("skip_verify");
    }
    if (httpFallback) {
      extra.add("http fallback");
    }
    return scheme + "://" + authority + basePath + (extra.isEmpty() ? "" : " " + extra);
  }
}
