package dev.lamina.e2e;

import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Assumptions;

/**
 * A node as kubelet sees one: containerd 1.6 with its CRI plugin, lamina as its proxy snapshotter
 * and CNI, all child processes of the test with everything under one directory.
 *
 * <ul>
 *   <li>{@code lamina serve} ({@link ContainerdLaminaProcess}, overlay snapshotter) with its root,
 *       snapshotter and CRI sockets under the directory; with {@code registerInContainerd} also
 *       {@code --containerd-address <containerd socket> --containerd-namespace k8s.io
 *       --containerd-snapshotter lamina}, so that images it pulls are containerd's too;
 *   <li>containerd with a private root, state, sockets and {@code opt}; the CRI plugin with {@code
 *       snapshotter = "lamina"}, {@code [proxy_plugins.lamina]} at lamina's snapshotter socket, the
 *       sandbox image given, the streaming server on 127.0.0.1 (any port), AppArmor off, OOM
 *       score adjustments no lower than the test's own (lowering needs CAP_SYS_RESOURCE), network
 *       namespaces mounted under its state dir, snapshot usage collected every second, and the
 *       registry reached over plain HTTP through a {@code hosts.toml} (lamina reads the same
 *       directory); runc keeps its state under the directory too;
 *   <li>CNI: Debian's plugins in {@code /usr/lib/cni}, a private {@code conf_dir} with one bridge
 *       network on a bridge of its own name and a random {@code 10.x.y.0/24}, host-local IPAM with
 *       its data in the directory; no gateway and no masquerading, so pods only reach their own
 *       namespace.
 * </ul>
 *
 * <p>{@link #close} stops and removes every pod left, stops containerd and lamina, kills shims of
 * this containerd that outlived it, deletes the bridge and unmounts whatever is still mounted
 * under the directory.
 */
final class CriNode implements AutoCloseable {
  /** The containerd namespace of the CRI plugin. */
  static final String NAMESPACE = "k8s.io";
  static final String SNAPSHOTTER = ContainerdHarness.SNAPSHOTTER;
  static final Path CNI_BIN = Path.of("/usr/lib/cni");
  private static final List<String> CNI_PLUGINS = List.of("bridge", "host-local", "loopback");
  private static final Duration READY_TIMEOUT = Duration.ofSeconds(60);

  private final Path dir;
  private final List<String> serveOptions;
  private final Path containerdConfig;
  private final Path containerdSocket;
  private final Path containerdLog;
  private final String bridge;
  private ContainerdLaminaProcess lamina;
  private Process containerd;
  private CriRuntimeClient runtime;

  private CriNode(Path dir, ContainerdLaminaProcess lamina, List<String> serveOptions, Process containerd,
      Path containerdConfig, Path containerdSocket, Path containerdLog, String bridge) {
    this.dir = dir;
    this.lamina = lamina;
    this.serveOptions = List.copyOf(serveOptions);
    this.containerd = containerd;
    this.containerdConfig = containerdConfig;
    this.containerdSocket = containerdSocket;
    this.containerdLog = containerdLog;
    this.bridge = bridge;
  }

  /**
   * Skips the calling test unless containerd, runc, overlayfs and the lamina jar are there (see
   * {@link ContainerdHarness#assumeUsable}), and the CNI plugins and {@code ip} are installed.
   */
  static void assumeUsable(Path scratch) throws IOException {
    ContainerdHarness.assumeUsable(scratch);
    for (String plugin : CNI_PLUGINS) {
      Assumptions.assumeTrue(Files.isExecutable(CNI_BIN.resolve(plugin)),
          "CNI plugin " + CNI_BIN.resolve(plugin) + " missing (apt-get install containernetworking-plugins)");
    }
    Assumptions.assumeTrue(Commands.succeeds("ip", "-V"), "ip not installed (apt-get install iproute2)");
  }

  /**
   * Starts lamina and containerd under {@code dir}; containerd's CRI pulls from {@code
   * registryHost} ({@code 127.0.0.1:port}, plain HTTP) and makes sandboxes from {@code sandboxImage}.
   */
  static CriNode start(Path dir, String registryHost, String sandboxImage, boolean registerInContainerd)
      throws IOException {
    return start(dir, registryHost, sandboxImage, registerInContainerd, SNAPSHOTTER);
  }

  /**
   * The same with the CRI plugin's snapshotter named: {@code overlayfs} for containerd's own (to
   * compare against), lamina's otherwise.
   */
  static CriNode start(Path dir, String registryHost, String sandboxImage, boolean registerInContainerd,
      String criSnapshotter) throws IOException {
    return start(dir, registryHost, sandboxImage, registerInContainerd, criSnapshotter, null);
  }

  /**
   * The same with containerd's proxy plugin {@code lamina} at {@code proxySocket} (a lamina the
   * test starts itself, in a pod say) instead of the node's own lamina; null: the node's.
   */
  static CriNode start(Path dir, String registryHost, String sandboxImage, boolean registerInContainerd,
      String criSnapshotter, Path proxySocket) throws IOException {
    return start(dir, registryHost, sandboxImage, registerInContainerd, criSnapshotter, proxySocket, false);
  }

  /**
   * The same, and with {@code hostReachable} a network the host takes part in: the bridge is the
   * pods' gateway (it gets the subnet's first address, so the host reaches pod IPs) and CNI's
   * {@code portmap} plugin maps the pods' host ports (iptables rules on the host, removed with
   * the pods), as a kubelet node's network does. Without it, pods only reach their own namespace.
   */
  static CriNode start(Path dir, String registryHost, String sandboxImage, boolean registerInContainerd,
      String criSnapshotter, Path proxySocket, boolean hostReachable) throws IOException {
    Files.createDirectories(dir);
    Path containerdSocket = dir.resolve("containerd.sock");
    Path laminaSocket = dir.resolve("lamina.sock");
    Path hosts = writeHostsConfig(dir.resolve("certs.d"), registryHost);
    List<String> serve = new ArrayList<>(List.of("--registry-config-dir", hosts.toString()));
    if (registerInContainerd) {
      serve.addAll(List.of("--containerd-address", containerdSocket.toString(),
          "--containerd-namespace", NAMESPACE, "--containerd-snapshotter", SNAPSHOTTER));
    }
    ContainerdLaminaProcess lamina = ContainerdLaminaProcess.start(dir.resolve("lamina-root"), laminaSocket,
        "overlay", dir.resolve("lamina.log"), List.of(), serve);
    String bridge = "lam" + HexFormat.of().formatHex(randomBytes(4));
    Process containerd = null;
    try {
      lamina.awaitCriSocket(READY_TIMEOUT);
      Path cniConf = writeCniConfig(dir.resolve("cni"), bridge, hostReachable);
      Path config = writeConfig(dir, containerdSocket, proxySocket == null ? laminaSocket : proxySocket, hosts, cniConf,
          sandboxImage, criSnapshotter);
      Path log = dir.resolve("containerd.log");
      containerd = startContainerd(config, log);
      CriNode node = new CriNode(dir, lamina, serve, containerd, config, containerdSocket, log, bridge);
      node.awaitCri(READY_TIMEOUT);
      return node;
    } catch (IOException | RuntimeException e) {
      if (containerd != null) {
        ContainerdHarness.stopProcess(containerd, Duration.ofSeconds(10));
        ContainerdHarness.killShimsOf(containerdSocket);
      }
      lamina.close();
      deleteLink(bridge);
      try {
        ContainerdHarness.unmountUnder(dir);
      } catch (IOException suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
  }

  /** {@code certs.d/<host>/hosts.toml}: the registry over plain HTTP, for pulls and resolves. */
  private static Path writeHostsConfig(Path certsDir, String registryHost) throws IOException {
    Path hostDir = Files.createDirectories(certsDir.resolve(registryHost));
    String server = "http://" + registryHost;
    Files.writeString(hostDir.resolve("hosts.toml"), String.join("\n",
        "server = " + quote(server),
        "",
        "[host." + quote(server) + "]",
        "  capabilities = [\"pull\", \"resolve\"]",
        ""), StandardCharsets.UTF_8);
    return certsDir;
  }

  /**
   * Mirrors {@code registry} (a host such as {@code registry.k8s.io}) to {@code mirrorHost}
   * ({@code 127.0.0.1:port}, plain HTTP): {@code certs.d/<registry>/hosts.toml}, which containerd and
   * lamina read at their next pull; {@code registry/e2e/x} then resolves as {@code
   * http://mirrorHost/v2/e2e/x}.
   */
  void addMirror(String registry, String mirrorHost) throws IOException {
    Path hostDir = Files.createDirectories(dir.resolve("certs.d").resolve(registry));
    String mirror = "http://" + mirrorHost;
    Files.writeString(hostDir.resolve("hosts.toml"), String.join("\n",
        "server = " + quote("https://" + registry),
        "",
        "[host." + quote(mirror) + "]",
        "  capabilities = [\"pull\", \"resolve\"]",
        ""), StandardCharsets.UTF_8);
  }

  /** One bridge network: no gateway, no masquerading, addresses from a random /24 kept under {@code dir}. */
  private static Path writeCniConfig(Path dir, String bridge, boolean hostReachable) throws IOException {
    Path conf = Files.createDirectories(dir.resolve("net.d"));
    byte[] net = randomBytes(2);
    String subnet = "10." + (100 + (net[0] & 0x7f)) + "." + (net[1] & 0xff) + ".0/24";
    Files.writeString(conf.resolve("10-" + bridge + ".conflist"), String.join("\n",
        "{",
        "  \"cniVersion\": \"1.0.0\",",
        "  \"name\": " + quote(bridge) + ",",
        "  \"plugins\": [",
        "    {",
        "      \"type\": \"bridge\",",
        "      \"bridge\": " + quote(bridge) + ",",
        "      \"isGateway\": " + hostReachable + ",",
        "      \"ipMasq\": false,",
        "      \"ipam\": {",
        "        \"type\": \"host-local\",",
        "        \"dataDir\": " + quote(dir.resolve("ipam").toString()) + ",",
        "        \"ranges\": [[{\"subnet\": " + quote(subnet) + "}]]",
        "      }",
        "    }" + (hostReachable ? "," : ""),
        hostReachable ? "    {\"type\": \"portmap\", \"capabilities\": {\"portMappings\": true}}" : "",
        "  ]",
        "}",
        ""), StandardCharsets.UTF_8);
    return conf;
  }

  private static Path writeConfig(Path dir, Path socket, Path laminaSocket, Path hosts, Path cniConf,
      String sandboxImage, String criSnapshotter) throws IOException {
    Path config = dir.resolve("containerd.toml");
    String cri = "plugins.\"io.containerd.grpc.v1.cri\"";
    String text = String.join("\n",
        "version = 2",
        "root = " + quote(dir.resolve("containerd-root").toString()),
        "state = " + quote(dir.resolve("containerd-state").toString()),
        "disabled_plugins = [",
        "  \"io.containerd.snapshotter.v1.aufs\",",
        "  \"io.containerd.snapshotter.v1.btrfs\",",
        "  \"io.containerd.snapshotter.v1.zfs\",",
        "  \"io.containerd.snapshotter.v1.devmapper\",",
        "]",
        "",
        "[grpc]",
        "  address = " + quote(socket.toString()),
        "",
        "[ttrpc]",
        "  address = " + quote(socket + ".ttrpc"),
        "",
        "[debug]",
        "  level = \"debug\"",
        "",
        "[plugins.\"io.containerd.internal.v1.opt\"]",
        "  path = " + quote(dir.resolve("containerd-opt").toString()),
        "",
        "[" + cri + "]",
        "  sandbox_image = " + quote(sandboxImage),
        "  stream_server_address = \"127.0.0.1\"",
        "  stream_server_port = \"0\"",
        "  disable_apparmor = true",
        "  enable_selinux = false",
        "  netns_mounts_under_state_dir = true",
        "  restrict_oom_score_adj = true",
        "  stats_collect_period = 1",
        "",
        "[" + cri + ".containerd]",
        "  snapshotter = " + quote(criSnapshotter),
        "  default_runtime_name = \"runc\"",
        "",
        "[" + cri + ".containerd.runtimes.runc]",
        "  runtime_type = \"io.containerd.runc.v2\"",
        "[" + cri + ".containerd.runtimes.runc.options]",
        "  Root = " + quote(dir.resolve("runc").toString()),
        "",
        "[" + cri + ".cni]",
        "  bin_dir = " + quote(CNI_BIN.toString()),
        "  conf_dir = " + quote(cniConf.toString()),
        "",
        "[" + cri + ".registry]",
        "  config_path = " + quote(hosts.toString()),
        "",
        "[proxy_plugins." + SNAPSHOTTER + "]",
        "  type = \"snapshot\"",
        "  address = " + quote(laminaSocket.toString()),
        "");
    Files.writeString(config, text, StandardCharsets.UTF_8);
    return config;
  }

  private static String quote(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }

  private static byte[] randomBytes(int n) {
    byte[] b = new byte[n];
    new SecureRandom().nextBytes(b);
    return b;
  }

  private static Process startContainerd(Path config, Path log) throws IOException {
    Process p = new ProcessBuilder("/usr/bin/containerd", "--config", config.toString())
        .redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
        .start();
    p.getOutputStream().close();
    return p;
  }

  /**
   * Stops lamina, with SIGKILL when {@code crash} (SIGTERM otherwise), and starts it again on the
   * same root and sockets, as a DaemonSet's restart would; containerd and its pods keep running.
   */
  synchronized void restartLamina(boolean crash) throws IOException {
    lamina = lamina.restart(crash, serveOptions);
    lamina.awaitCriSocket(READY_TIMEOUT);
  }

  /** Stops containerd (SIGTERM) and starts it on the same state; shims and pods live on. */
  synchronized void restartContainerd() throws IOException {
    if (runtime != null) {
      runtime.close();
      runtime = null;
    }
    ContainerdHarness.stopProcess(containerd, Duration.ofSeconds(15));
    containerd = startContainerd(containerdConfig, containerdLog);
    awaitCri(READY_TIMEOUT);
  }

  /** Waits until the CRI RuntimeService answers {@code Version}: the CRI plugin has loaded. */
  private void awaitCri(Duration timeout) throws IOException {
    long deadline = System.nanoTime() + timeout.toNanos();
    StatusRuntimeException last = null;
    while (System.nanoTime() < deadline) {
      if (!containerd.isAlive()) {
        throw new IOException("containerd exited " + containerd.exitValue() + "\n" + containerdLogText());
      }
      if (ContainerdLaminaProcess.accepts(containerdSocket)) {
        try {
          runtime().version();
          return;
        } catch (StatusRuntimeException e) {
          last = e; // the CRI plugin registers after the socket opens
        }
      }
      ContainerdLaminaProcess.sleep(100);
    }
    throw new IOException("containerd's CRI plugin not serving on " + containerdSocket + " within " + timeout
        + (last == null ? "" : " (" + last.getStatus() + ")") + "\n" + containerdLogText());
  }

  // ------------------------------------------------------------------ what the test drives

  Path dir() {
    return dir;
  }

  Path containerdSocket() {
    return containerdSocket;
  }

  synchronized ContainerdLaminaProcess lamina() {
    return lamina;
  }

  /** The CNI bridge's name (unique to this node). */
  String bridge() {
    return bridge;
  }

  /** A client of containerd's CRI RuntimeService, closed with the node. */
  synchronized CriRuntimeClient runtime() {
    if (runtime == null) {
      runtime = CriRuntimeClient.connect(containerdSocket);
    }
    return runtime;
  }

  /** containerd's shims (their command line names this node's socket) and everything they started. */
  List<ProcessHandle> shimsAndChildren() {
    List<ProcessHandle> out = new ArrayList<>();
    for (ProcessHandle shim : ContainerdHarness.shimsOf(containerdSocket)) {
      out.add(shim);
      shim.descendants().forEach(out::add);
    }
    return out;
  }

  /** Network devices enslaved to this node's bridge (the pods' veth ends); empty when no pod is attached. */
  List<String> bridgePorts() throws IOException {
    Commands.Result r = Commands.run("ip", "-o", "link", "show", "master", bridge);
    return r.ok() ? r.stdout().lines().filter(l -> !l.isBlank()).toList() : List.of();
  }

  String containerdLogText() {
    try {
      return Files.exists(containerdLog) ? Files.readString(containerdLog) : "(no log)";
    } catch (IOException e) {
      return "(log unreadable: " + e + ")";
    }
  }

  @Override
  public void close() throws IOException {
    try {
      removePods();
    } catch (RuntimeException e) {
      System.err.println("removing the pods left on " + containerdSocket + ": " + e);
    }
    if (runtime != null) {
      runtime.close();
    }
    ContainerdHarness.stopProcess(containerd, Duration.ofSeconds(15));
    lamina.close();
    ContainerdHarness.killShimsOf(containerdSocket);
    deleteLink(bridge);
    ContainerdHarness.keepLogs(List.of(containerdLog, lamina.log()));
    ContainerdHarness.unmountUnder(dir);
  }

  /** Stops and removes every pod sandbox still known, as kubelet does when pods go. */
  private void removePods() {
    if (!containerd.isAlive()) {
      return;
    }
    for (var pod : runtime().listPodSandboxes()) {
      runtime().stopPodSandbox(pod.getId());
      runtime().removePodSandbox(pod.getId());
    }
  }

  private static void deleteLink(String name) {
    try {
      Commands.run("ip", "link", "delete", name); // absent when no pod ever attached
    } catch (IOException ignored) {
      // best effort
    }
  }
}
