package dev.lamina.e2e;

import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Debian's {@code docker-registry} (distribution 2.8) serving plain HTTP on
 * {@code 127.0.0.1:<free port>} with its storage in a temp dir, optionally behind htpasswd or token
 * authentication; images go in with skopeo. It can be {@link #kill}ed (SIGKILL) and {@link
 * #restart}ed on the same port with the same storage.
 */
final class DockerRegistry implements AutoCloseable {
  static final String MISSING = "docker-registry or skopeo not installed (apt-get install docker-registry skopeo)";
  private static final Duration READY_TIMEOUT = Duration.ofSeconds(30);

  /** The {@code auth:} section of the registry's configuration. */
  record Auth(List<String> yaml) {
    Auth {
      yaml = List.copyOf(yaml);
    }

    static Auth none() {
      return new Auth(List.of());
    }

    /** Basic auth against a bcrypt htpasswd file. */
    static Auth htpasswd(String realm, Path file) {
      return new Auth(List.of(
          "auth:",
          "  htpasswd:",
          "    realm: " + realm,
          "    path: " + file));
    }

    /**
     * Bearer tokens from {@code realm}: the registry accepts JWTs whose {@code iss} is {@code
     * issuer}, whose {@code aud} is {@code service} and whose {@code x5c} chain ends in a
     * certificate of {@code rootCertBundle} (PEM).
     */
    static Auth token(URI realm, String service, String issuer, Path rootCertBundle) {
      return new Auth(List.of(
          "auth:",
          "  token:",
          "    realm: " + realm,
          "    service: " + service,
          "    issuer: " + issuer,
          "    rootcertbundle: " + rootCertBundle));
    }
  }

  private final Path dir;
  private final int port;
  private final Path config;
  private final Path log;
  private Process process;

  private DockerRegistry(Path dir, int port, Path config, Path log) {
    this.dir = dir;
    this.port = port;
    this.config = config;
    this.log = log;
  }

  static boolean installed() {
    return Files.isExecutable(Path.of("/usr/bin/docker-registry")) && Commands.succeeds("skopeo", "--version");
  }

  /** Without authentication. */
  static DockerRegistry start(Path dir) throws IOException {
    return start(dir, Auth.none());
  }

  static DockerRegistry start(Path dir, Auth auth) throws IOException {
    Files.createDirectories(dir);
    IOException last = null;
    for (int attempt = 0; attempt < 5; attempt++) {
      int port = freePort();
      Path config = dir.resolve("config.yml");
      List<String> lines = new ArrayList<>(List.of(
          "version: 0.1",
          "log:",
          "  level: warn",
          "storage:",
          "  filesystem:",
          "    rootdirectory: " + dir.resolve("storage"),
          "  delete:",
          "    enabled: true",
          "http:",
          "  addr: 127.0.0.1:" + port,
          "  secret: lamina-e2e"));
      lines.addAll(auth.yaml());
      Files.writeString(config, String.join("\n", lines) + "\n", StandardCharsets.UTF_8);
      DockerRegistry r = new DockerRegistry(dir, port, config, dir.resolve("registry.log"));
      try {
        r.launch();
        return r;
      } catch (IOException e) {
        r.close();
        last = e; // most likely the port was taken meanwhile
      }
    }
    throw last;
  }

  private void launch() throws IOException {
    process = new ProcessBuilder("/usr/bin/docker-registry", "serve", config.toString())
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
        .start();
    process.getOutputStream().close();
    awaitReady(READY_TIMEOUT);
  }

  /** Waits until {@code /v2/} answers: 200, or 401 when authentication is configured. */
  private void awaitReady(Duration timeout) throws IOException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IOException("docker-registry exited " + process.exitValue() + ": " + logText());
      }
      try {
        HttpURLConnection c = (HttpURLConnection) URI.create("http://" + host() + "/v2/").toURL().openConnection();
        c.setConnectTimeout(1000);
        c.setReadTimeout(1000);
        int status = c.getResponseCode();
        c.disconnect();
        if (status == 200 || status == 401) {
          return;
        }
      } catch (IOException notYet) {
        // keep polling
      }
      ContainerdLaminaProcess.sleep(20);
    }
    throw new IOException("docker-registry not ready on " + host() + " within " + timeout + ": " + logText());
  }

  /** {@code 127.0.0.1:port}. */
  String host() {
    return "127.0.0.1:" + port;
  }

  int port() {
    return port;
  }

  /** The filesystem driver's root directory. */
  Path storage() {
    return dir.resolve("storage");
  }

  /** Where the registry keeps the bytes of blob {@code digest} ({@code sha256:<hex>}). */
  Path blobData(String digest) {
    String hex = digest.substring(digest.indexOf(':') + 1);
    return storage().resolve("docker/registry/v2/blobs/sha256").resolve(hex.substring(0, 2)).resolve(hex)
        .resolve("data");
  }

  boolean isAlive() {
    return process != null && process.isAlive();
  }

  /** SIGKILL, and waits for the process to be gone. */
  void kill() throws InterruptedException {
    if (process != null && process.isAlive()) {
      process.destroyForcibly();
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        throw new IllegalStateException("docker-registry survived SIGKILL");
      }
    }
  }

  /** Starts the registry again with the same configuration: same port, same storage. */
  void restart() throws IOException {
    if (isAlive()) {
      throw new IllegalStateException("docker-registry on " + host() + " is still running");
    }
    launch();
  }

  String logText() {
    try {
      return Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "(no log)";
    } catch (IOException e) {
      return "(log unreadable: " + e + ")";
    }
  }

  /** Pushes {@code layout:tag} as {@code host()/repository:tag}; returns that reference. */
  String push(Path layout, String tag, String repository) throws IOException {
    return push(layout, tag, repository, null);
  }

  /** The same with {@code user:password} for a registry that wants them (null: none). */
  String push(Path layout, String tag, String repository, String credentials) throws IOException {
    String ref = host() + "/" + repository + ":" + tag;
    List<String> cmd = new ArrayList<>(List.of("skopeo", "--insecure-policy", "copy", "--quiet",
        "--dest-tls-verify=false"));
    if (credentials != null) {
      cmd.add("--dest-creds=" + credentials);
    }
    cmd.addAll(List.of("oci:" + layout + ":" + tag, "docker://" + ref));
    Commands.run(null, Duration.ofMinutes(5), cmd).check();
    return ref;
  }

  /**
   * Pushes {@code layout:layoutTag} as {@code host()/repository:tag}, and when it is an image index
   * every image it lists as well (skopeo's {@code --all}); returns the digest the registry keeps the
   * pushed manifest or index under ({@code sha256:...}).
   *
   * @param format null to keep the layout's OCI media types; {@code v2s2} for Docker's (a manifest
   *     list of schema 2 manifests, as {@code docker push} and {@code docker manifest push} write)
   */
  String pushAll(Path layout, String layoutTag, String repository, String tag, String format) throws IOException {
    Path digestFile = Files.createTempFile(dir, "digest-", ".txt");
    try {
      List<String> cmd = new ArrayList<>(List.of("skopeo", "--insecure-policy", "copy", "--quiet", "--all",
          "--dest-tls-verify=false", "--digestfile", digestFile.toString()));
      if (format != null) {
        cmd.addAll(List.of("--format", format));
      }
      cmd.addAll(List.of("oci:" + layout + ":" + layoutTag, "docker://" + host() + "/" + repository + ":" + tag));
      Commands.run(null, Duration.ofMinutes(5), cmd).check();
      return Files.readString(digestFile, StandardCharsets.UTF_8).strip();
    } finally {
      Files.deleteIfExists(digestFile);
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  @Override
  public void close() {
    if (process != null && process.isAlive()) {
      process.destroy();
      try {
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
          process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        process.destroyForcibly();
        Thread.currentThread().interrupt();
      }
    }
  }
}
