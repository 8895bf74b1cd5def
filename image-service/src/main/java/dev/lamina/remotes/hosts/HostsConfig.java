package dev.lamina.remotes.hosts;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.remotes.hosts.RegistryHost.Capability;
import dev.lamina.remotes.hosts.RegistryHost.ClientCert;
import java.io.IOException;
import java.net.URI;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Per-registry host configuration in containerd's layout ({@code config_path}): {@code
 * DIR/<registry>/hosts.toml}, where {@code <registry>} is the domain of the reference ({@code
 * docker.io}, {@code localhost:5000}), else {@code DIR/_default/hosts.toml}. The file lists mirrors
 * ({@code [host."https://mirror"]}, tried in file order) and the {@code server}, tried last:
 *
 * <pre>
 * server = "https://registry-1.docker.io"      # default: https://&lt;registry&gt;
 * capabilities = ["pull", "resolve"]           # top-level keys apply to the server
 *
 * [host."https://mirror.example.com"]
 *   capabilities = ["pull", "resolve"]         # default: pull, resolve, push
 *   skip_verify = false
 *   ca = "mirror-ca.pem"                       # or a list; relative to the registry's directory
 *   client = [["client.cert", "client.key"]]   # or "client.pem" holding both
 *   override_path = false                      # true: the URL path is the API root, no /v2 added
 *   [host."https://mirror.example.com".header]
 *     x-custom = ["a", "b"]
 *
 * [host."http://10.0.0.1:5000"]                # http:// means plain HTTP
 * </pre>
 *
 * A registry directory without {@code hosts.toml} is read the docker {@code certs.d} way: {@code
 * *.crt} are CAs, {@code *.cert} with the {@code *.key} of the same name are client certificates.
 * With no configuration at all, the registry is reached over https; {@code localhost}, {@code
 * 127.0.0.1} and {@code ::1} follow containerd: no certificate checks, and on a port other than 443
 * a server that does not speak TLS is reached over plain http (see {@link
 * RegistryHost#defaultFor}).
 */
public final class HostsConfig {
  private static final TomlMapper TOML = new TomlMapper();
  private static final Set<String> RESTRICTED_HEADERS =
      Set.of("connection", "content-length", "date", "expect", "from", "host", "upgrade", "via",
          "warning");
  private static final HostsConfig NONE = new HostsConfig(null);

  private final Path dir;

  private HostsConfig(Path dir) {
    this.dir = dir;
  }

  /** No configuration: every registry is its own only host. */
  public static HostsConfig none() {
    return NONE;
  }

  /** Reads {@code dir} at every lookup, so edits apply to the next pull without a restart. */
  public static HostsConfig directory(Path dir) {
    return new HostsConfig(dir);
  }

  /** The configured directory, or null. */
  public Path dir() {
    return dir;
  }

  /**
   * One sentence for the start-up log: which directory is read and which hosts it configures, or
   * that there is none (and what registries get then).
   */
  public String describe() {
    String defaults = "every registry is reached at its own name over https (localhost and loopback "
        + "addresses also over plain http)";
    if (dir == null) {
      return "registry configuration: none (no --registry-config-dir); " + defaults;
    }
    List<String> hosts = new java.util.ArrayList<>();
    try (java.util.stream.Stream<Path> entries = Files.list(dir)) {
      entries.filter(Files::isDirectory).sorted().forEach(d -> hosts.add(d.getFileName()
          + (Files.isRegularFile(d.resolve("hosts.toml")) ? "" : " (certificates only)")));
    } catch (IOException e) {
      return "registry configuration directory " + dir + " cannot be read (" + e.getMessage() + "); " + defaults;
    }
    if (hosts.isEmpty()) {
      return "registry configuration directory " + dir + " has no <host>/hosts.toml yet (read at every pull); "
          + defaults;
    }
    return "registry configuration from " + dir + " (read at every pull): " + String.join(", ", hosts);
  }

  /**
   * The hosts to try for images of {@code domain} (as in references: {@code docker.io}, {@code
   * localhost:5000}), mirrors first, the server last.
   *
   * @throws LaminaException INVALID_ARGUMENT naming the file when its configuration is invalid
   */
  public List<RegistryHost> hosts(String domain) throws LaminaException {
    if (dir != null) {
      for (String name : List.of(domain, "_default")) {
        Path hostDir = dir.resolve(name);
        if (!hostDir.normalize().startsWith(dir.normalize()) || !Files.isDirectory(hostDir)) {
          continue;
        }
        Path file = hostDir.resolve("hosts.toml");
        if (Files.isRegularFile(file)) {
          String text;
          try {
            text = Files.readString(file);
          } catch (IOException e) {
            throw new LaminaException(
                ErrorKind.INVALID_ARGUMENT, "cannot read " + file + ": " + e.getMessage(), e);
          }
          return parse(domain, text, hostDir, file.toString());
        }
        return List.of(certsDir(domain, hostDir));
      }
    }
    return List.of(defaultServer(domain));
  }

  /** The registry itself, with no configuration. */
  public static RegistryHost defaultServer(String domain) {
    return RegistryHost.defaultFor(serverAuthority(domain), true);
  }

  private static String serverAuthority(String domain) {
    return domain.equals("docker.io") ? "registry-1.docker.io" : domain;
  }

  /**
   * Parses a {@code hosts.toml}.
   *
   * @param domain the registry the file configures
   * @param toml the file's text
   * @param hostDir where relative {@code ca} and {@code client} paths are resolved
   * @param source the file's name, for messages
   */
  public static List<RegistryHost> parse(String domain, String toml, Path hostDir, String source)
      throws LaminaException {
    JsonNode root;
    try {
      root = TOML.readTree(toml);
    } catch (IOException e) {
      throw new LaminaException(
          ErrorKind.INVALID_ARGUMENT, "invalid " + source + ": " + e.getMessage(), e);
    }
    Reader r = new Reader(source, hostDir);
    List<RegistryHost> hosts = new ArrayList<>();
    JsonNode hostTables = root.get("host");
    if (hostTables != null) {
      if (!hostTables.isObject()) {
        throw r.invalid("host", "want tables [host.\"URL\"]");
      }
      for (Iterator<Map.Entry<String, JsonNode>> it = hostTables.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        if (!e.getValue().isObject()) {
          throw r.invalid("host.\"" + e.getKey() + "\"", "want a table");
        }
        hosts.add(r.host(e.getKey(), e.getValue(), false, "host.\"" + e.getKey() + "\"."));
      }
    }
    String server = r.string(root, "server", "");
    if (server.isEmpty()) {
      RegistryHost def = defaultServer(domain);
      RegistryHost d = r.host(def.scheme() + "://" + def.authority(), root, true, "");
      hosts.add(
          new RegistryHost(
              d.scheme(), d.authority(), d.basePath(), d.capabilities(),
              d.skipVerify() || def.skipVerify(), d.caCerts(), d.clientCerts(), d.headers(), true,
              def.httpFallback()));
    } else {
      hosts.add(r.host(server, root, true, ""));
    }
    return List.copyOf(hosts);
  }

  private static RegistryHost certsDir(String domain, Path hostDir) throws LaminaException {
    List<Path> cas = new ArrayList<>();
    List<ClientCert> clients = new ArrayList<>();
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(hostDir)) {
      List<Path> files = new ArrayList<>();
      ds.forEach(files::add);
      files.sort(null);
      for (Path f : files) {
        String n = f.getFileName().toString();
        if (n.endsWith(".crt")) {
          cas.add(f);
        } else if (n.endsWith(".cert")) {
          Path key = hostDir.resolve(n.substring(0, n.length() - ".cert".length()) + ".key");
          if (!Files.isRegularFile(key)) {
            throw LaminaException.invalidArgument(
                "client certificate " + f + " has no key " + key.getFileName());
          }
          clients.add(new ClientCert(f, key));
        }
      }
    } catch (IOException e) {
      throw new LaminaException(
          ErrorKind.INVALID_ARGUMENT, "cannot read " + hostDir + ": " + e.getMessage(), e);
    }
    RegistryHost d = defaultServer(domain);
    return new RegistryHost(
        d.scheme(), d.authority(), d.basePath(), d.capabilities(), d.skipVerify(), cas, clients,
        Map.of(), true, d.httpFallback());
  }

  /** Reads one host's settings from a table. */
  private static final class Reader {
    private final String source;
    private final Path hostDir;

    Reader(String source, Path hostDir) {
      this.source = source;
      this.hostDir = hostDir;
    }

    LaminaException invalid(String key, String why) {
      return LaminaException.invalidArgument("invalid " + source + ": " + key + ": " + why);
    }

    RegistryHost host(String url, JsonNode t, boolean server, String prefix)
        throws LaminaException {
      String u = url.contains("://") ? url : "https://" + url;
      URI uri;
      try {
        uri = new URI(u);
      } catch (java.net.URISyntaxException e) {
        throw invalid(prefix.isEmpty() ? "server" : prefix, "invalid URL \"" + url + "\"");
      }
      String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
      if (!scheme.equals("https") && !scheme.equals("http")) {
        throw invalid(prefix.isEmpty() ? "server" : prefix, "URL \"" + url + "\" is not http(s)");
      }
      if (uri.getRawAuthority() == null || uri.getHost() == null) {
        throw invalid(prefix.isEmpty() ? "server" : prefix, "URL \"" + url + "\" has no host");
      }
      boolean overridePath = bool(t, "override_path", prefix);
      String path = uri.getRawPath() == null ? "" : uri.getRawPath();
      while (path.endsWith("/")) {
        path = path.substring(0, path.length() - 1);
      }
      String base = overridePath ? path : path + "/v2";
      Set<Capability> caps = EnumSet.allOf(Capability.class);
      JsonNode c = t.get("capabilities");
      if (c != null) {
        caps = EnumSet.noneOf(Capability.class);
        for (String s : strings(c, prefix + "capabilities")) {
          try {
            caps.add(Capability.parse(s));
          } catch (IllegalArgumentException e) {
            throw invalid(prefix + "capabilities", "unknown capability \"" + s + "\"");
          }
        }
      }
      List<Path> cas = new ArrayList<>();
      JsonNode ca = t.get("ca");
      if (ca != null) {
        for (String s : strings(ca, prefix + "ca")) {
          cas.add(path(s));
        }
      }
      List<ClientCert> clients = new ArrayList<>();
      JsonNode cl = t.get("client");
      if (cl != null) {
        if (cl.isTextual()) {
          clients.add(new ClientCert(path(cl.textValue()), null));
        } else if (cl.isArray()) {
          for (JsonNode e : cl) {
            if (e.isTextual()) {
              clients.add(new ClientCert(path(e.textValue()), null));
            } else if (e.isArray() && e.size() >= 1 && e.size() <= 2 && e.get(0).isTextual()) {
              String key = e.size() == 2 && e.get(1).isTextual() ? e.get(1).textValue() : "";
              clients.add(
                  new ClientCert(path(e.get(0).textValue()), key.isEmpty() ? null : path(key)));
            } else {
              throw invalid(prefix + "client", "want \"cert\" or [\"cert\", \"key\"]");
            }
          }
        } else {
          throw invalid(prefix + "client", "want a path or a list of [cert, key] pairs");
        }
      }
      Map<String, List<String>> headers = new LinkedHashMap<>();
      JsonNode h = t.get("header");
      if (h != null) {
        if (!h.isObject()) {
          throw invalid(prefix + "header", "want a table of header names");
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = h.fields(); it.hasNext(); ) {
          Map.Entry<String, JsonNode> e = it.next();
          String name = e.getKey();
          if (!name.matches("[!#$%&'*+.^_`|~0-9A-Za-z-]+")
              || RESTRICTED_HEADERS.contains(name.toLowerCase(Locale.ROOT))) {
            throw invalid(prefix + "header", "header \"" + name + "\" cannot be set");
          }
          List<String> values = strings(e.getValue(), prefix + "header." + name);
          for (String v : values) {
            if (v.indexOf('\r') >= 0 || v.indexOf('\n') >= 0) {
              throw invalid(prefix + "header." + name, "value holds a line break");
            }
          }
          headers.put(name, values);
        }
      }
      return new RegistryHost(
          scheme, uri.getRawAuthority(), base, caps, bool(t, "skip_verify", prefix), cas, clients,
          headers, server, false);
    }

    private Path path(String p) {
      Path x = Path.of(p);
      return x.isAbsolute() || hostDir == null ? x : hostDir.resolve(x);
    }

    private boolean bool(JsonNode t, String key, String prefix) throws LaminaException {
      JsonNode n = t.get(key);
      if (n == null) {
        return false;
      }
      if (!n.isBoolean()) {
        throw invalid(prefix + key, "want true or false");
      }
      return n.booleanValue();
    }

    String string(JsonNode t, String key, String def) throws LaminaException {
      JsonNode n = t.get(key);
      if (n == null) {
        return def;
      }
      if (!n.isTextual()) {
        throw invalid(key, "want a string");
      }
      return n.textValue();
    }

    private List<String> strings(JsonNode n, String key) throws LaminaException {
      List<String> out = new ArrayList<>();
      if (n.isTextual()) {
        out.add(n.textValue());
        return out;
      }
      if (!n.isArray()) {
        throw invalid(key, "want a string or a list of strings");
      }
      for (JsonNode e : n) {
        if (!e.isTextual()) {
          throw invalid(key, "want a string or a list of strings");
        }
        out.add(e.textValue());
      }
      return out;
    }
  }
}
