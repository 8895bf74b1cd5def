package dev.lamina.e2e;

import java.io.IOException;
import java.net.HttpURLConnection;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Debian's {@code docker-registry} (distribution 2.8) serving plain HTTP on
 * {@code 127.0.0.1:<free port>} with its storage in a temp dir; images go in with skopeo.
 */
final class ContainerdRegistry implements AutoCloseable {
  static final String MISSING = "docker-registry or skopeo not installed (apt-get install docker-registry skopeo)";

  private final Process process;
  private final int port;
  private final Path log;

  private ContainerdRegistry(Process process, int port, Path log) {
    this.process = process;
    this.port = port;
    this.log = log;
  }

  static boolean installed() {
    return Files.isExecutable(Path.of("/usr/bin/docker-registry")) && Commands.succeeds("skopeo", "--version");
  }

  static ContainerdRegistry start(Path dir) throws IOException {
    Files.createDirectories(dir);
    IOException last = null;
    for (int attempt = 0; attempt < 5; attempt++) {
      int port = freePort();
      Path config = dir.resolve("config.yml");
      Files.writeString(config, String.join("\n",
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
          "  secret: lamina-e2e",
          ""), StandardCharsets.UTF_8);
      Path log = dir.resolve("registry.log");
      Process p = new ProcessBuilder("/usr/bin/docker-registry", "serve", config.toString())
          .redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
          .start();
      p.getOutputStream().close();
      ContainerdRegistry r = new ContainerdRegistry(p, port, log);
      try {
        r.awaitReady(Duration.ofSeconds(30));
        return r;
      } catch (IOException e) {
        r.close();
        last = e; // most likely the port was taken meanwhile
      }
    }
    throw last;
  }

  private void awaitReady(Duration timeout) throws IOException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IOException("docker-registry exited " + process.exitValue() + ": " + Files.readString(log));
      }
      try {
        HttpURLConnection c = (HttpURLConnection) URI.create("http://" + host() + "/v2/").toURL().openConnection();
        c.setConnectTimeout(1000);
        c.setReadTimeout(1000);
        if (c.getResponseCode() == 200) {
          return;
        }
      } catch (IOException notYet) {
        // keep polling
      }
      ContainerdLaminaProcess.sleep(100);
    }
    throw new IOException("docker-registry not ready on " + host() + " within " + timeout);
  }

  /** {@code 127.0.0.1:port}. */
  String host() {
    return "127.0.0.1:" + port;
  }

  /** Pushes {@code layout:tag} as {@code host()/repository:tag}; returns that reference. */
  String push(Path layout, String tag, String repository) throws IOException {
    String ref = host() + "/" + repository + ":" + tag;
    Commands.run(null, Duration.ofMinutes(5), List.of("skopeo", "--insecure-policy", "copy", "--quiet",
        "--dest-tls-verify=false", "oci:" + layout + ":" + tag, "docker://" + ref)).check();
    return ref;
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  @Override
  public void close() {
    if (process.isAlive()) {
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
