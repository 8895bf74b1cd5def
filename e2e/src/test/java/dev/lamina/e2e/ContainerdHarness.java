package dev.lamina.e2e;

import dev.lamina.containerd.snapshots.v1.Info;
import dev.lamina.fstest.Root;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;

/**
 * A real containerd using lamina as a proxy snapshotter, both as child processes of the test:
 *
 * <ul>
 *   <li>{@code lamina serve} ({@link ContainerdLaminaProcess}) with its root and socket under the
 *       harness directory;
 *   <li>{@code /usr/bin/containerd --config <dir>/containerd.toml}: root, state, gRPC socket and
 *       {@code opt} under the harness directory, the CRI plugin and the snapshotters that need
 *       the host (aufs, btrfs, zfs, devmapper) disabled, and {@code [proxy_plugins.lamina]} of
 *       type {@code snapshot} at lamina's socket. containerd's own overlayfs snapshotter stays,
 *       under containerd's root.
 * </ul>
 *
 * <p>{@link #close} deletes the tasks left running, stops containerd and lamina (SIGTERM, then
 * SIGKILL), kills shims of this containerd that outlived it (found by their {@code -address}
 * argument, which names this harness's socket) and unmounts whatever is still mounted under the
 * harness directory, deepest first.
 *
 * <p>containerd namespaces every snapshot key before it reaches the proxy: a key {@code k} in
 * namespace {@code default} is {@code default/<n>/k} in lamina. {@link #laminaName} maps one to
 * the other.
 */
final class ContainerdHarness implements AutoCloseable {
  static final String SNAPSHOTTER = "lamina";
  static final String NAMESPACE = "default";
  private static final Pattern NAMESPACED = Pattern.compile("([^/]+)/([0-9]+)/(.*)", Pattern.DOTALL);

  private final Path dir;
  private volatile ContainerdLaminaProcess lamina;
  private final List<String> laminaOptions;
  private volatile Process containerd;
  private final Path containerdSocket;
  private final Path containerdLog;
  private ContainerdSnapshotsClient client;
  private ContainerdSnapshotsClient containerdClient;

  private ContainerdHarness(Path dir, ContainerdLaminaProcess lamina, List<String> laminaOptions, Process containerd,
      Path containerdSocket, Path containerdLog) {
    this.dir = dir;
    this.lamina = lamina;
    this.laminaOptions = List.copyOf(laminaOptions);
    this.containerd = containerd;
    this.containerdSocket = containerdSocket;
    this.containerdLog = containerdLog;
  }

  // ------------------------------------------------------------------ prerequisites

  /**
   * Skips the calling test unless this runs as root, overlayfs mounts under {@code scratch},
   * containerd, ctr and runc are installed and the lamina jar is built.
   */
  static void assumeUsable(Path scratch) throws IOException {
    Root.assumeRoot("containerd, runc and overlay mounts need root");
    Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/containerd")) && Commands.succeeds("ctr", "--version"),
        "containerd not installed (apt-get install containerd)");
    Assumptions.assumeTrue(Commands.succeeds("runc", "--version"), "runc not installed (apt-get install runc)");
    Assumptions.assumeTrue(overlayWorks(scratch), "overlayfs cannot be mounted under " + scratch);
    ContainerdLaminaProcess.assumeBuilt();
  }

  /** Tries one small overlay mount under {@code scratch}. */
  static boolean overlayWorks(Path scratch) throws IOException {
    Path base = Files.createTempDirectory(Files.createDirectories(scratch), "overlay-probe-");
    for (String d : List.of("lower", "upper", "work", "merged")) {
      Files.createDirectory(base.resolve(d));
    }
    Path merged = base.resolve("merged");
    boolean ok = Commands.run("mount", "-t", "overlay", "overlay", "-o", "lowerdir=" + base.resolve("lower")
        + ",upperdir=" + base.resolve("upper") + ",workdir=" + base.resolve("work"), merged.toString()).ok();
    if (ok) {
      Commands.run("umount", merged.toString()).check();
    }
    return ok;
  }

  // ------------------------------------------------------------------ lifecycle

  /** Starts lamina (overlay snapshotter) and containerd with everything under {@code dir}. */
  static ContainerdHarness start(Path dir) throws IOException {
    return start(dir, List.of());
  }

  /** The same with more options for {@code lamina serve}, kept for its restarts. */
  static ContainerdHarness start(Path dir, List<String> laminaOptions) throws IOException {
    Files.createDirectories(dir);
    Path laminaSocket = dir.resolve("lamina.sock");
    ContainerdLaminaProcess lamina = ContainerdLaminaProcess.start(dir.resolve("lamina-root"), laminaSocket,
        "overlay", dir.resolve("lamina.log"), List.of(), laminaOptions);
    Process containerd = null;
    try {
      Path socket = containerdSocket(dir);
      Path config = writeConfig(dir, socket, laminaSocket);
      Path log = dir.resolve("containerd.log");
      containerd = startContainerd(config, log);
      ContainerdHarness h = new ContainerdHarness(dir, lamina, laminaOptions, containerd, socket, log);
      h.awaitContainerd(Duration.ofSeconds(60));
      return h;
    } catch (IOException | RuntimeException e) {
      if (containerd != null) {
        stopProcess(containerd, Duration.ofSeconds(10));
      }
      lamina.close();
      try {
        unmountUnder(dir);
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
  }

  /** Where the harness in {@code dir} has containerd listen (known before it starts). */
  static Path containerdSocket(Path dir) {
    return dir.resolve("containerd.sock");
  }

  private static Process startContainerd(Path config, Path log) throws IOException {
    Process p = new ProcessBuilder("/usr/bin/containerd", "--config", config.toString())
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
        .start();
    p.getOutputStream().close();
    return p;
  }

  /** Stops containerd (SIGTERM) and starts it again on the same state; its shims and tasks live on. */
  synchronized void restartContainerd() throws IOException {
    if (containerdClient != null) {
      containerdClient.close();
      containerdClient = null;
    }
    stopProcess(containerd, Duration.ofSeconds(15));
    containerd = startContainerd(dir.resolve("containerd.toml"), containerdLog);
    awaitContainerd(Duration.ofSeconds(60));
  }

  private static Path writeConfig(Path dir, Path socket, Path laminaSocket) throws IOException {
    Path config = dir.resolve("containerd.toml");
    String text = String.join("\n",
        "version = 2",
        "root = " + toml(dir.resolve("containerd-root")),
        "state = " + toml(dir.resolve("containerd-state")),
        "disabled_plugins = [",
        "  \"io.containerd.grpc.v1.cri\",",
        "  \"io.containerd.snapshotter.v1.aufs\",",
        "  \"io.containerd.snapshotter.v1.btrfs\",",
        "  \"io.containerd.snapshotter.v1.zfs\",",
        "  \"io.containerd.snapshotter.v1.devmapper\",",
        "]",
        "",
        "[debug]",
        "  level = \"debug\"",
        "",
        "[grpc]",
        "  address = " + toml(socket),
        "",
        "[ttrpc]",
        "  address = " + toml(Path.of(socket + ".ttrpc")),
        "",
        "[plugins.\"io.containerd.internal.v1.opt\"]",
        "  path = " + toml(dir.resolve("containerd-opt")),
        "",
        "[proxy_plugins." + SNAPSHOTTER + "]",
        "  type = \"snapshot\"",
        "  address = " + toml(laminaSocket),
        "");
    Files.writeString(config, text, StandardCharsets.UTF_8);
    return config;
  }

  private static String toml(Path p) {
    return "\"" + p.toString().replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }

  private void awaitContainerd(Duration timeout) throws IOException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (!containerd.isAlive()) {
        throw new IOException("containerd exited " + containerd.exitValue() + "\n" + containerdLogText());
      }
      if (ContainerdLaminaProcess.accepts(containerdSocket) && ctr("version").ok()) {
        return;
      }
      ContainerdLaminaProcess.sleep(100);
    }
    throw new IOException("containerd not serving " + containerdSocket + " within " + timeout + "\n"
        + containerdLogText());
  }

  @Override
  public void close() throws IOException {
    IOException problem = null;
    try {
      removeTasks();
    } catch (IOException | RuntimeException e) {
      problem = e instanceof IOException io ? io : new IOException(e);
    }
    if (client != null) {
      client.close();
    }
    if (containerdClient != null) {
      containerdClient.close();
    }
    stopProcess(containerd, Duration.ofSeconds(15));
    lamina.close();
    killStrayShims();
    keepLogs(List.of(containerdLog, lamina.log()));
    try {
      unmountUnder(dir);
    } catch (IOException e) {
      if (problem == null) {
        problem = e;
      } else {
        problem.addSuppressed(e);
      }
    }
    if (problem != null) {
      throw problem;
    }
  }

  /** Copies the daemons' logs to {@code e2e/target/containerd-e2e/<time>/}, as the temp dir goes away. */
  static void keepLogs(List<Path> logs) {
    try {
      Path out = Files.createDirectories(projectRoot().resolve("e2e/target/containerd-e2e")
          .resolve(java.time.LocalDateTime.now().toString().replace(':', '-')));
      for (Path log : logs) {
        if (Files.exists(log)) {
          Files.copy(log, out.resolve(log.getFileName()), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
      }
    } catch (IOException ignored) {
      // the logs are a convenience
    }
  }

  /** SIGKILLs and deletes every task of this containerd, so no container outlives the test. */
  private void removeTasks() throws IOException {
    if (!containerd.isAlive()) {
      return;
    }
    Commands.Result tasks = ctr("tasks", "ls", "-q");
    if (!tasks.ok()) {
      return;
    }
    for (String id : tasks.stdout().split("\\s+")) {
      if (!id.isBlank()) {
        ctr("tasks", "delete", "--force", id);
      }
    }
  }

  /** Shims of this containerd that outlived it. */
  private void killStrayShims() {
    killShimsOf(containerdSocket);
  }

  /** SIGKILLs the shims of the containerd serving {@code containerdSocket}. */
  static void killShimsOf(Path containerdSocket) {
    shimsOf(containerdSocket).forEach(ProcessHandle::destroyForcibly);
  }

  /** Running shims of the containerd serving {@code containerdSocket}: their command line names that socket. */
  static List<ProcessHandle> shimsOf(Path containerdSocket) {
    String address = containerdSocket.toString();
    List<ProcessHandle> out = new ArrayList<>();
    try (DirectoryStream<Path> procs = Files.newDirectoryStream(Path.of("/proc"), "[0-9]*")) {
      for (Path proc : procs) {
        String cmdline;
        try {
          cmdline = new String(Files.readAllBytes(proc.resolve("cmdline")), StandardCharsets.UTF_8);
        } catch (IOException gone) {
          continue;
        }
        List<String> argv = List.of(cmdline.split("\0"));
        if (!argv.isEmpty() && argv.get(0).contains("containerd-shim") && argv.contains(address)) {
          ProcessHandle.of(Long.parseLong(proc.getFileName().toString())).ifPresent(out::add);
        }
      }
    } catch (IOException ignored) {
      // best effort
    }
    return out;
  }

  static void stopProcess(Process p, Duration grace) {
    if (!p.isAlive()) {
      return;
    }
    p.destroy();
    try {
      if (!p.waitFor(grace.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)) {
        p.destroyForcibly().waitFor(10, java.util.concurrent.TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
    }
  }

  // ------------------------------------------------------------------ mounts

  /** Mount points at or under {@code dir}, from /proc/self/mountinfo, in mount order. */
  static List<Path> mountsUnder(Path dir) throws IOException {
    Path d = dir.toAbsolutePath().normalize();
    List<Path> out = new ArrayList<>();
    for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.UTF_8)) {
      String[] f = line.split(" ");
      if (f.length > 4) {
        Path mp = Path.of(unescapeMountinfo(f[4]));
        if (mp.startsWith(d)) {
          out.add(mp);
        }
      }
    }
    return out;
  }

  /**
   * A test class's teardown: closes each of {@code open} that was made (a failure is printed, the
   * rest still close), then, as root, unmounts whatever is left under {@code dir}.
   */
  static void closeAllThenUnmount(Path dir, AutoCloseable... open) throws IOException {
    for (AutoCloseable c : open) {
      if (c == null) {
        continue;
      }
      try {
        c.close();
      } catch (Exception e) {
        System.err.println("closing " + c + ": " + e);
      }
    }
    if (Root.isRoot()) {
      unmountUnder(dir);
    }
  }

  /** Unmounts everything at or under {@code dir}: newest and deepest first, lazily when busy. */
  static void unmountUnder(Path dir) throws IOException {
    List<Path> mounts = mountsUnder(dir);
    List<Path> order = new ArrayList<>(mounts);
    java.util.Collections.reverse(order);
    order.sort(Comparator.comparingInt(Path::getNameCount).reversed());
    List<String> failed = new ArrayList<>();
    for (Path m : order) {
      if (!Commands.run("umount", m.toString()).ok() && !Commands.run("umount", "-l", m.toString()).ok()) {
        failed.add(m.toString());
      }
    }
    if (!failed.isEmpty()) {
      throw new IOException("could not unmount " + failed);
    }
  }

  private static String unescapeMountinfo(String s) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '\\' && i + 3 < s.length() && s.substring(i + 1, i + 4).matches("[0-7]{3}")) {
        b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
        i += 3;
      } else {
        b.append(c);
      }
    }
    return b.toString();
  }

  /**
   * Mounts what a snapshotter returned onto {@code target} with mount(8), the way containerd
   * would ({@code mount -t TYPE -o OPTIONS SOURCE TARGET}, one after the other).
   */
  static void mount(List<dev.lamina.containerd.types.Mount> mounts, Path target) throws IOException {
    for (dev.lamina.containerd.types.Mount m : mounts) {
      List<String> cmd = new ArrayList<>(List.of("mount", "-t", m.getType()));
      if (m.getOptionsCount() > 0) {
        cmd.add("-o");
        cmd.add(String.join(",", m.getOptionsList()));
      }
      cmd.add(m.getSource());
      cmd.add(target.toString());
      Commands.run(null, Commands.DEFAULT_TIMEOUT, cmd).check();
    }
  }

  // ------------------------------------------------------------------ driving containerd

  Path dir() {
    return dir;
  }

  Path containerdSocket() {
    return containerdSocket;
  }

  Path laminaSocket() {
    return lamina.socket();
  }

  Path laminaRoot() {
    return lamina.root();
  }

  ContainerdLaminaProcess lamina() {
    return lamina;
  }

  String containerdLogText() {
    try {
      return Files.exists(containerdLog) ? Files.readString(containerdLog) : "(no log)";
    } catch (IOException e) {
      return "(log unreadable: " + e + ")";
    }
  }

  /** {@code ctr -a <socket> -n default ARGS}, not checked. */
  Commands.Result ctr(String... args) throws IOException {
    return ctr(Commands.DEFAULT_TIMEOUT, args);
  }

  Commands.Result ctr(Duration timeout, String... args) throws IOException {
    List<String> cmd = new ArrayList<>(List.of("ctr", "-a", containerdSocket.toString(), "-n", NAMESPACE));
    cmd.addAll(List.of(args));
    return Commands.run(null, timeout, cmd);
  }

  /** {@code ctr ... snapshots --snapshotter lamina ARGS}, not checked. */
  Commands.Result snapshots(String... args) throws IOException {
    List<String> cmd = new ArrayList<>(List.of("snapshots", "--snapshotter", SNAPSHOTTER));
    cmd.addAll(List.of(args));
    return ctr(cmd.toArray(String[]::new));
  }

  /**
   * Stops lamina, with SIGKILL when {@code crash} (SIGTERM otherwise), and starts it again on the
   * same root and socket; containerd keeps running and has to reconnect.
   */
  synchronized void restartLamina(boolean crash) throws IOException {
    if (client != null) {
      client.close();
      client = null;
    }
    lamina = lamina.restart(crash, laminaOptions);
  }

  /** A gRPC client of lamina's snapshotter socket, closed with the harness. */
  synchronized ContainerdSnapshotsClient client() {
    if (client == null) {
      client = ContainerdSnapshotsClient.lamina(lamina.socket());
    }
    return client;
  }

  /**
   * A gRPC client of containerd's own Snapshots service for the lamina snapshotter in namespace
   * default (what ctr uses), closed with the harness.
   */
  synchronized ContainerdSnapshotsClient containerdClient() {
    if (containerdClient == null) {
      containerdClient = ContainerdSnapshotsClient.containerd(containerdSocket, NAMESPACE, SNAPSHOTTER);
    }
    return containerdClient;
  }

  /**
   * Labels that keep a snapshot made outside a lease from containerd's garbage collector, as
   * {@code ctr snapshots prepare/commit} set them ({@code ctr snapshots view} does not).
   */
  static Map<String, String> gcRoot() {
    return Map.of("containerd.io/gc.root", java.time.Instant.now().toString());
  }

  /**
   * Runs containerd's garbage collector now and waits for it: deleting a lease with
   * {@code --sync} schedules a collection and waits for it to finish.
   */
  void collectGarbage() throws IOException {
    String lease = "e2e-gc-" + System.nanoTime();
    ctr("leases", "create", "--id", lease).check();
    ctr("leases", "delete", "--sync", lease).check();
  }

  /** containerd's key of a lamina snapshot name {@code <namespace>/<n>/<key>}, if it has that form. */
  static Optional<String> containerdKey(String laminaName, String namespace) {
    Matcher m = NAMESPACED.matcher(laminaName);
    return m.matches() && m.group(1).equals(namespace) ? Optional.of(m.group(3)) : Optional.empty();
  }

  /** The lamina snapshot containerd stores for {@code key} in namespace default, if any. */
  Optional<Info> laminaInfo(String key) {
    for (Info i : client().list()) {
      if (containerdKey(i.getName(), NAMESPACE).map(key::equals).orElse(false)) {
        return Optional.of(i);
      }
    }
    return Optional.empty();
  }

  /** The lamina name of containerd's snapshot {@code key} in namespace default. */
  String laminaName(String key) {
    return laminaInfo(key).map(Info::getName)
        .orElseThrow(() -> new AssertionError("lamina has no snapshot for containerd key " + key));
  }

  /**
   * Polls until lamina has no snapshot for containerd key {@code key}; false on timeout. containerd
   * removes a snapshot from its proxy in its garbage collector, which it schedules on deletions
   * but spaces out after slow collections ({@code pause_threshold}); after a few seconds this
   * asks for a collection ({@link #collectGarbage}).
   */
  boolean awaitGone(String key, Duration timeout) throws IOException {
    long start = System.nanoTime();
    long deadline = start + timeout.toNanos();
    boolean nudged = false;
    while (System.nanoTime() < deadline) {
      if (laminaInfo(key).isEmpty()) {
        return true;
      }
      if (!nudged && System.nanoTime() - start > Duration.ofSeconds(3).toNanos()) {
        collectGarbage();
        nudged = true;
      }
      ContainerdLaminaProcess.sleep(100);
    }
    return laminaInfo(key).isEmpty();
  }

  /** The project's top directory (where bin/lamina and e2e/ are). */
  static Path projectRoot() {
    Path p = Path.of("").toAbsolutePath();
    for (Path q = p; q != null; q = q.getParent()) {
      if (Files.isRegularFile(q.resolve("bin/lamina")) && Files.isDirectory(q.resolve("e2e"))) {
        return q;
      }
    }
    return p.getParent() == null ? p : p.getParent();
  }
}
