package dev.lamina.e2e;

import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.TestWatcher;

/**
 * {@code lamina serve} as a child process ({@code java -jar image-service/target/lamina.jar
 * serve ...}), with its output in a log file and its CRI socket beside the snapshotter socket.
 * {@link #start} returns once the snapshotter socket accepts connections; {@link #stop} sends SIGTERM and, when that is not enough, SIGKILL.
 */
final class ContainerdLaminaProcess implements AutoCloseable {
  static final Duration START_TIMEOUT = Duration.ofSeconds(90);

  private final Process process;
  private final Path root;
  private final Path socket;
  private final Path log;

  private ContainerdLaminaProcess(Process process, Path root, Path socket, Path log) {
    this.process = process;
    this.root = root;
    this.socket = socket;
    this.log = log;
  }

  /**
   * The jar the build makes ({@code mvn -q install -DskipTests}), or {@code $LAMINA_JAR} when set
   * (as bin/lamina honours it).
   */
  static Path jar() {
    String env = System.getenv("LAMINA_JAR");
    return env != null && !env.isBlank() ? Path.of(env)
        : ContainerdHarness.projectRoot().resolve("image-service/target/lamina.jar");
  }

  /** Skips the test (class) unless the jar is built, saying how to build it. */
  static void assumeBuilt() {
    Assumptions.assumeTrue(Files.isRegularFile(jar()), () -> jar() + " is missing; build it first: (cd "
        + ContainerdHarness.projectRoot() + " && mvn -q package -DskipTests -pl image-service -am)");
  }

  /** A JUnit extension that prints the last {@code lines} of the daemon's log when a test fails. */
  static TestWatcher logOnFailure(Supplier<ContainerdLaminaProcess> daemon, int lines) {
    return new TestWatcher() {
      @Override
      public void testFailed(ExtensionContext context, Throwable cause) {
        ContainerdLaminaProcess lamina = daemon.get();
        if (lamina != null) {
          List<String> all = lamina.logText().lines().toList();
          System.err.println("---- " + context.getDisplayName() + " failed; the end of lamina's log:");
          all.subList(Math.max(0, all.size() - lines), all.size()).forEach(System.err::println);
        }
      }
    };
  }

  /** {@code java -jar lamina.jar ARGS}, a command of the built jar, with {@code env} added. */
  static Commands.Result cli(Map<String, String> env, String... args) throws IOException {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-jar", jar().toString()));
    cmd.addAll(List.of(args));
    return Commands.run(null, Duration.ofMinutes(2), env, cmd);
  }

  /**
   * Starts {@code lamina serve --root root --snapshotter-socket socket --socket <dir>/lamina-cri.sock
   * --snapshotter snapshotter} and waits for the socket.
   */
  static ContainerdLaminaProcess start(Path root, Path socket, String snapshotter, Path log) throws IOException {
    return start(root, socket, snapshotter, log, List.of());
  }

  /** The same with options for the JVM ({@code -Dorg.slf4j.simpleLogger.log.dev.lamina=debug}). */
  static ContainerdLaminaProcess start(Path root, Path socket, String snapshotter, Path log, List<String> jvmOptions)
      throws IOException {
    return start(root, socket, snapshotter, log, jvmOptions, List.of());
  }

  /**
   * The same with more options for {@code lamina serve} after the ones above ({@code
   * --registry-config-dir DIR}).
   */
  static ContainerdLaminaProcess start(Path root, Path socket, String snapshotter, Path log, List<String> jvmOptions,
      List<String> serveOptions) throws IOException {
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    List<String> cmd = new ArrayList<>(List.of(java.toString()));
    cmd.addAll(jvmOptions);
    cmd.addAll(List.of("-jar", jar().toString(), "serve",
        "--root", root.toString(),
        "--snapshotter-socket", socket.toString(),
        "--socket", criSocket(socket).toString(),
        "--snapshotter", snapshotter));
    if (serveOptions.stream().noneMatch(o -> o.startsWith("--containerd-address"))) {
      cmd.add("--containerd-address="); // standalone, unless the test links it to its containerd
    }
    cmd.addAll(serveOptions);
    ProcessBuilder pb = new ProcessBuilder(cmd)
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
        .redirectInput(ProcessBuilder.Redirect.PIPE);
    pb.environment().put("LC_ALL", "C.UTF-8");
    Process p = pb.start();
    p.getOutputStream().close();
    ContainerdLaminaProcess lamina = new ContainerdLaminaProcess(p, root, socket, log);
    try {
      lamina.awaitSocket(START_TIMEOUT);
    } catch (IOException | RuntimeException e) {
      lamina.close();
      throw e;
    }
    return lamina;
  }

  /**
   * Stops this daemon, with SIGKILL when {@code crash} (SIGTERM otherwise), and starts another on
   * the same root, socket and log with {@code serveOptions}.
   */
  ContainerdLaminaProcess restart(boolean crash, List<String> serveOptions) throws IOException {
    if (crash) {
      try {
        process.destroyForcibly().waitFor(30, java.util.concurrent.TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted", e);
      }
    } else {
      stop(Duration.ofSeconds(15));
    }
    return start(root, socket, "overlay", log, List.of(), serveOptions);
  }

  private void awaitSocket(Duration timeout) throws IOException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new IOException("lamina serve exited " + process.exitValue() + " before serving " + socket + "\n"
            + logText());
      }
      if (accepts(socket)) {
        return;
      }
      sleep(50);
    }
    throw new IOException("lamina serve did not open " + socket + " within " + timeout + "\n" + logText());
  }

  /** Waits until the CRI socket accepts connections too: it opens after the snapshotter socket. */
  void awaitCriSocket(Duration timeout) throws IOException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!accepts(criSocket())) {
      if (!process.isAlive()) {
        throw new IOException("lamina serve exited " + process.exitValue() + " before serving " + criSocket() + "\n"
            + logText());
      }
      if (System.nanoTime() > deadline) {
        throw new IOException("lamina serves no CRI socket at " + criSocket() + " within " + timeout + "\n"
            + logText());
      }
      sleep(50);
    }
  }

  static boolean accepts(Path socket) {
    if (!Files.exists(socket)) {
      return false;
    }
    try (SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  Process process() {
    return process;
  }

  Path root() {
    return root;
  }

  Path socket() {
    return socket;
  }

  /** The CRI image service's socket, beside the snapshotter socket. */
  Path criSocket() {
    return criSocket(socket);
  }

  private static Path criSocket(Path snapshotterSocket) {
    return snapshotterSocket.resolveSibling("lamina-cri.sock");
  }

  Path log() {
    return log;
  }

  String logText() {
    try {
      return Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "(no log)";
    } catch (IOException e) {
      return "(log unreadable: " + e + ")";
    }
  }

  /**
   * SIGTERM, then waits up to {@code grace}; SIGKILL when still running. Returns the exit code
   * (137 after a SIGKILL).
   */
  int stop(Duration grace) {
    if (!process.isAlive()) {
      return process.exitValue();
    }
    process.destroy(); // SIGTERM
    try {
      if (!process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
    return process.isAlive() ? -1 : process.exitValue();
  }

  @Override
  public void close() {
    stop(Duration.ofSeconds(15));
  }

  static void sleep(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }
}
