package dev.lamina.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The chart's node-setup.sh against a node laid out in a temporary directory: containerd's and
 * kubelet's configuration edited idempotently with a backup and reverted exactly, the host
 * service installed, upgraded and removed, and uninstall told from a rollout.
 */
class NodeSetupTest {
  @TempDir Path dir;

  private static boolean installed(String program) {
    return Files.isExecutable(Path.of("/usr/bin", program)) || Files.isExecutable(Path.of("/bin", program));
  }

  private static String containerdDefaultConfig() throws Exception {
    Assumptions.assumeTrue(installed("containerd"), "containerd not installed (apt-get install containerd)");
    Process p = new ProcessBuilder("containerd", "config", "default").redirectError(ProcessBuilder.Redirect.DISCARD).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor()).isZero();
    return out;
  }

  /** containerd's view of a config file: {@code containerd --config FILE config dump}, which fails on bad TOML. */
  private static String containerdDump(Path config) throws Exception {
    Process p = new ProcessBuilder("containerd", "--config", config.toString(), "config", "dump")
        .redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor()).as(out).isZero();
    return out;
  }

  private static Object inode(Path p) throws IOException {
    return Files.getAttribute(p, "unix:ino");
  }

  @Test
  void containerdConfigGainsLaminaOnceKeepsItsInodeAndRevertsToTheByte() throws Exception {
    String original = containerdDefaultConfig();
    NodeSetup node = NodeSetup.of(dir, "mode", "pod");
    Path config = node.onHost("/etc/containerd/config.toml");
    Files.createDirectories(config.getParent());
    Files.writeString(config, original);
    Object inode = inode(config);

    String log = node.check("install").output();
    assertThat(log).contains("lamina is proxy plugin and CRI snapshotter lamina")
        .contains("restart not enabled");
    assertThat(node.takeHostCommands()).as("containerd.restart is off").isEmpty();
    assertThat(inode(config)).as("written with cat >, not replaced").isEqualTo(inode);
    assertThat(Files.readString(config.resolveSibling("config.toml.lamina-backup"))).isEqualTo(original);
    String dump = containerdDump(config);
    assertThat(dump).contains("[proxy_plugins.lamina]")
        .contains("address = \"" + dir.resolve("run/snapshotter.sock") + "\"")
        .contains("snapshotter = \"lamina\"")
        .doesNotContain("snapshotter = \"overlayfs\"");
    String edited = Files.readString(config);
    assertThat(edited).contains("# lamina-saved:       snapshotter = \"overlayfs\"");

    assertThat(node.check("install").output()).contains("already names lamina");
    assertThat(Files.readString(config)).as("a second install changes nothing").isEqualTo(edited);

    node.check("uninstall");
    assertThat(Files.readString(config)).isEqualTo(original);
    assertThat(inode(config)).isEqualTo(inode);
    assertThat(config.resolveSibling("config.toml.lamina-backup")).doesNotExist();
  }

  @Test
  void aMissingContainerdConfigIsCreatedAndRemovedAgain() throws Exception {
    Assumptions.assumeTrue(installed("containerd"), "containerd not installed (apt-get install containerd)");
    NodeSetup node = NodeSetup.of(dir, "mode", "pod", "containerd.restart", true);
    Path config = node.onHost("/etc/containerd/config.toml");
    node.check("install");
    assertThat(containerdDump(config)).contains("[proxy_plugins.lamina]").contains("snapshotter = \"lamina\"");
    assertThat(node.takeHostCommands()).containsExactly("systemctl restart containerd.service");
    node.check("uninstall");
    assertThat(config).doesNotExist();
    assertThat(config.getParent()).isEmptyDirectory();
    assertThat(node.takeHostCommands()).containsExactly("systemctl restart containerd.service");
  }

  @Test
  void containerdThreeUsesItsImagesTable() throws Exception {
    NodeSetup node = NodeSetup.of(dir, "mode", "pod", "containerd.criTable", "plugins.'io.containerd.cri.v1.images'");
    Path config = node.onHost("/etc/containerd/config.toml");
    Files.createDirectories(config.getParent());
    String original = "version = 3\n\n[plugins.'io.containerd.cri.v1.images']\n  snapshotter = 'overlayfs'\n  discard_unpacked_layers = true\n";
    Files.writeString(config, original);
    node.check("install");
    assertThat(Files.readString(config)).startsWith("version = 3\n\n[plugins.'io.containerd.cri.v1.images']\n"
        + "  snapshotter = \"lamina\"  # lamina-managed\n# lamina-saved:   snapshotter = 'overlayfs'\n"
        + "  discard_unpacked_layers = true\n");
    node.check("uninstall");
    assertThat(Files.readString(config)).isEqualTo(original);
  }

  @Test
  void systemdModeInstallsStartsUpgradesAndRemovesTheHostService() throws Exception {
    NodeSetup node = NodeSetup.of(dir, "metrics.enabled", false, "containerd.configure", false);
    Path image = Files.createDirectories(dir.resolve("image/opt/lamina/bin"));
    Files.writeString(image.resolve("lamina"), "#!/bin/sh\n");
    image.resolve("lamina").toFile().setExecutable(true);
    Files.writeString(image.resolveSibling("lamina.jar"), "jar v1");
    node.env.put("LAMINA_SOURCE", image.getParent().toString());
    Path install = node.onHost("/opt/lamina");
    Path unit = node.onHost("/etc/systemd/system/lamina.service");
    Files.createDirectories(unit.getParent());

    try (ServerSocketChannel socket = NodeSetup.listen(node.criSocket())) {
      node.env.put("VERSION", "1.0.0");
      node.check("install");
      assertThat(Files.readString(install.resolve("current/lamina.jar"))).isEqualTo("jar v1");
      assertThat(Files.readSymbolicLink(install.resolve("current"))).isEqualTo(Path.of("1.0.0"));
      assertThat(install.resolve("current/bin/lamina")).isExecutable();
      assertThat(Files.readString(node.onHost("/etc/lamina/lamina.toml")))
          .isEqualTo(Files.readString(node.chartDir.resolve("lamina.toml")));
      assertThat(Files.readString(unit)).contains("\nEnvironment=NODE_NAME=node-1\n").doesNotContain("@NODE_NAME@");
      assertThat(node.takeHostCommands()).containsExactly("systemctl daemon-reload", "systemctl enable lamina.service",
          "systemctl restart lamina.service");

      node.check("install"); // the pod restarted: nothing changed, lamina keeps running
      assertThat(node.takeHostCommands()).containsExactly("systemctl enable lamina.service", "systemctl start lamina.service");

      Files.writeString(image.resolveSibling("lamina.jar"), "jar v2");
      node.env.put("VERSION", "2.0.0");
      node.check("install"); // a rollout of a new version
      assertThat(Files.readSymbolicLink(install.resolve("current"))).isEqualTo(Path.of("2.0.0"));
      assertThat(Files.readString(install.resolve("current/lamina.jar"))).isEqualTo("jar v2");
      assertThat(node.takeHostCommands()).contains("systemctl restart lamina.service");
      node.env.put("VERSION", "3.0.0");
      node.check("install");
      try (var versions = Files.list(install)) {
        assertThat(versions.map(p -> p.getFileName().toString()))
            .as("the running version and the one before it").containsExactlyInAnyOrder("current", "3.0.0", "2.0.0");
      }
    }
    node.takeHostCommands();
    node.check("uninstall");
    assertThat(node.takeHostCommands()).containsExactly("systemctl disable --now lamina.service", "systemctl daemon-reload");
    assertThat(unit).doesNotExist();
    assertThat(install).doesNotExist();
    assertThat(node.onHost("/etc/lamina")).doesNotExist();
  }

  @Test
  void installFailsWhenLaminasSocketDoesNotAppear() throws Exception {
    NodeSetup node = NodeSetup.of(dir, "metrics.enabled", false, "containerd.configure", false);
    Path image = Files.createDirectories(dir.resolve("image/opt/lamina/bin"));
    node.env.put("LAMINA_SOURCE", image.getParent().toString());
    node.env.put("SOCKET_WAIT_SECONDS", "1");
    Files.createDirectories(node.onHost("/etc/systemd/system"));
    NodeSetup.Run run = node.run("install");
    assertThat(run.exitCode()).isNotZero();
    assertThat(run.output()).contains("CRI socket " + node.criSocket() + " did not appear");
  }

  @Test
  void kubeletIsPointedAtLaminaAfterLaminaIsUpAndPutBackExactly() throws Exception {
    NodeSetup node = NodeSetup.of(dir, "metrics.enabled", false, "containerd.configure", false,
        "kubelet.configure", true, "kubelet.restart", true);
    Path image = Files.createDirectories(dir.resolve("image/opt/lamina/bin"));
    node.env.put("LAMINA_SOURCE", image.getParent().toString());
    Files.createDirectories(node.onHost("/etc/systemd/system"));
    Path kubelet = node.onHost("/var/lib/kubelet/config.yaml");
    Files.createDirectories(kubelet.getParent());
    String original = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
        + "containerRuntimeEndpoint: unix:///run/containerd/containerd.sock\n"
        + "imageServiceEndpoint: unix:///run/containerd/containerd.sock\ncgroupDriver: systemd\n";
    Files.writeString(kubelet, original);
    try (ServerSocketChannel socket = NodeSetup.listen(node.criSocket())) {
      node.check("install");
      node.check("install");
    }
    String edited = Files.readString(kubelet);
    assertThat(edited).contains("\nimageServiceEndpoint: unix://" + node.criSocket() + "  # lamina-managed\n")
        .contains("\n# lamina-saved: imageServiceEndpoint: unix:///run/containerd/containerd.sock\n")
        .contains("\ncontainerRuntimeEndpoint: unix:///run/containerd/containerd.sock\n");
    assertThat(edited.lines().filter(l -> l.startsWith("imageServiceEndpoint:"))).hasSize(1);
    List<String> commands = node.takeHostCommands();
    assertThat(commands).containsSubsequence("systemctl restart lamina.service", "systemctl restart kubelet.service");
    assertThat(commands).filteredOn("systemctl restart kubelet.service"::equals).hasSize(1);

    node.check("uninstall");
    assertThat(Files.readString(kubelet)).isEqualTo(original);
    assertThat(node.takeHostCommands()).startsWith("systemctl restart kubelet.service");
  }

  /** A kube API that answers the DaemonSet's GET with {@code status} and {@code body}. */
  private static HttpServer api(int status, String body, AtomicReference<String> auth) throws IOException {
    HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext("/apis/apps/v1/namespaces/" + Chart.NAMESPACE + "/daemonsets/lamina", exchange -> {
      auth.set(exchange.getRequestHeaders().getFirst("Authorization"));
      byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
      exchange.sendResponseHeaders(status, bytes.length);
      exchange.getResponseBody().write(bytes);
      exchange.close();
    });
    server.start();
    return server;
  }

  private NodeSetup installedNode() throws Exception {
    NodeSetup node = NodeSetup.of(dir, "metrics.enabled", false, "mode", "pod");
    Path config = node.onHost("/etc/containerd/config.toml");
    Files.createDirectories(config.getParent());
    Files.writeString(config, "version = 2\n");
    node.check("install");
    Path sa = Files.createDirectories(Path.of(node.env.get("SA_DIR")));
    Files.writeString(sa.resolve("token"), "the-token");
    return node;
  }

  private String terminatedSupervisor(NodeSetup node, HttpServer api) throws Exception {
    node.env.put("MODE", "systemd");
    node.env.put("KUBE_API", "http://127.0.0.1:" + api.getAddress().getPort());
    node.env.put("REFRESH_SECONDS", "1");
    Path log = Files.createTempFile(dir, "supervise", ".log");
    Process p = node.start(log, "supervise");
    Thread.sleep(1500);
    p.destroy(); // SIGTERM, as kubelet stops the pod
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    String out = Files.readString(log);
    assertThat(p.exitValue()).as(out).isZero();
    return out;
  }

  @Test
  void aTerminatedPodWhoseDaemonSetIsGoneRevertsTheNode() throws Exception {
    Assumptions.assumeTrue(installed("curl"), "curl not installed");
    NodeSetup node = installedNode();
    AtomicReference<String> auth = new AtomicReference<>();
    HttpServer api = api(404, "{\"kind\":\"Status\",\"code\":404}", auth);
    try {
      String out = terminatedSupervisor(node, api);
      assertThat(out).contains("HTTP 404, deleted").contains("node reverted");
    } finally {
      api.stop(0);
    }
    assertThat(auth.get()).isEqualTo("Bearer the-token");
    assertThat(Files.readString(node.onHost("/etc/containerd/config.toml"))).isEqualTo("version = 2\n");
  }

  @Test
  void aDaemonSetBeingDeletedCountsAsGone() throws Exception {
    Assumptions.assumeTrue(installed("curl"), "curl not installed");
    NodeSetup node = installedNode();
    HttpServer api = api(200, "{\"metadata\":{\"name\":\"lamina\",\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"}}",
        new AtomicReference<>());
    try {
      assertThat(terminatedSupervisor(node, api)).contains("deleted").contains("node reverted");
    } finally {
      api.stop(0);
    }
  }

  @Test
  void aRolloutOrAnUnreachableApiKeepsTheNodeOnLamina() throws Exception {
    Assumptions.assumeTrue(installed("curl"), "curl not installed");
    NodeSetup node = installedNode();
    String edited = Files.readString(node.onHost("/etc/containerd/config.toml"));
    HttpServer api = api(200, "{\"metadata\":{\"name\":\"lamina\"}}", new AtomicReference<>());
    try {
      assertThat(terminatedSupervisor(node, api)).contains("HTTP 200, kept").doesNotContain("reverted");
    } finally {
      api.stop(0);
    }
    assertThat(Files.readString(node.onHost("/etc/containerd/config.toml"))).isEqualTo(edited);
    HttpServer down = api(500, "", new AtomicReference<>());
    down.stop(0); // a port nobody answers on
    assertThat(terminatedSupervisor(node, down)).contains("kept").doesNotContain("reverted");
    assertThat(Files.readString(node.onHost("/etc/containerd/config.toml"))).isEqualTo(edited);
  }
}
