package dev.lamina.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.fstest.Root;
import dev.lamina.helm.NodeSetup;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The chart's answer to the boot problem, on a node in a temporary directory: once kubelet's image
 * service is lamina, kubelet cannot pull lamina's own image while lamina is down, so node-setup.sh
 * installs lamina on the host as a systemd unit (enabled, ordered before kubelet) that runs a copy
 * of lamina kept on the host. There is no systemd here: a stand-in runs what node-setup.sh asks
 * of systemctl for two units, lamina.service (the unit file's Environment, ExecStartPre,
 * ExecStart and ExecStartPost, as systemd runs a simple service) and containerd.service.
 *
 * <p>The test installs, then simulates a reboot (every process killed, the run directories
 * emptied, mounts gone), starts what is enabled in the unit's order, and replays kubelet's image
 * calls for lamina's own pod (its image is already on the node: ImageStatus finds it with the
 * registry down, so kubelet needs no pull) and for a user pod (a pull once the registry is back),
 * while containerd reaches lamina's snapshots through the proxy plugin the setup added. Then
 * uninstall leaves containerd's config as it was and nothing of lamina's install behind.
 */
class NodeBootTest {
  private static final Duration PULL = Duration.ofMinutes(2);

  @TempDir Path dir;
  private Path node;
  private Path units;
  private DockerRegistry registry;

  private Path containerdSocket() {
    return dir.resolve("containerd/containerd.sock");
  }

  /** What the node runs on its own: a stand-in for systemctl (see the class comment). */
  private Path writeSystemctl(Path containerdConfig, Path systemdDir) throws IOException {
    Path script = dir.resolve("bin/on-host");
    Files.createDirectories(script.getParent());
    Files.writeString(script, """
        #!/bin/bash
        # node-setup.sh's "nsenter ... -- systemctl VERB [--now] UNIT", without systemd
        set -uo pipefail
        units='%s'; systemd='%s'; containerd_config='%s'
        [ "$1" = systemctl ] || { echo "not systemctl: $*" >&2; exit 1; }
        shift
        echo "systemctl $*" >> "$units/commands.log"
        verb="$1"; shift
        now=0; [ "${1:-}" = --now ] && { now=1; shift; }
        unit="${1:-}"
        pidfile="$units/$unit.pid"
        stop() {
          [ -f "$pidfile" ] || return 0
          local pid; pid="$(cat "$pidfile")"
          kill -TERM -- "-$pid" 2>/dev/null
          for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
          kill -KILL -- "-$pid" 2>/dev/null
          rm -f "$pidfile"
        }
        start() {
          if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then return 0; fi
          if [ "$unit" = containerd.service ]; then
            setsid /usr/bin/containerd --config "$containerd_config" >> "$units/containerd.log" 2>&1 < /dev/null &
            echo $! > "$pidfile"
            return 0
          fi
          local file="$systemd/$unit" envs=() pre=() post=() exec="" line
          [ -f "$file" ] || { echo "no unit $unit" >&2; return 5; }
          while IFS= read -r line; do
            case "$line" in
              Environment=*) envs+=("${line#Environment=}") ;;
              ExecStartPre=*) pre+=("${line#ExecStartPre=}") ;;
              ExecStartPost=*) post+=("${line#ExecStartPost=}") ;;
              ExecStart=*) exec="${line#ExecStart=}" ;;
            esac
          done < "$file"
          local c
          for c in "${pre[@]}"; do env "${envs[@]}" $c || return 1; done
          setsid env "${envs[@]}" $exec >> "$units/$unit.log" 2>&1 < /dev/null &
          echo $! > "$pidfile"
          # ExecStartPost is a shell command line: systemd starts kubelet (Before=) once it succeeds
          for c in "${post[@]}"; do eval "$c" || return 1; done
        }
        case "$verb" in
          start) start ;;
          restart) stop; start ;;
          stop) stop ;;
          enable) touch "$units/$unit.enabled" ;;
          disable) rm -f "$units/$unit.enabled"; [ $now = 1 ] && stop ;;
          daemon-reload) ;;
          *) echo "unknown verb $verb" >&2; exit 1 ;;
        esac
        """.formatted(units, systemdDir, containerdConfig));
    script.toFile().setExecutable(true);
    return script;
  }

  private Commands.Result systemctl(Path standIn, String... args) throws IOException {
    List<String> cmd = new java.util.ArrayList<>(List.of(standIn.toString(), "systemctl"));
    cmd.addAll(List.of(args));
    return Commands.run(null, Duration.ofMinutes(3), cmd);
  }

  private Commands.Result ctr(String... args) throws IOException {
    List<String> cmd = new java.util.ArrayList<>(List.of("ctr", "--address", containerdSocket().toString()));
    cmd.addAll(List.of(args));
    return Commands.run(null, Duration.ofMinutes(1), cmd);
  }

  private void awaitContainerd() throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (!ctr("version").ok()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("containerd did not start:\n" + Files.readString(units.resolve("containerd.log")));
      }
      Thread.sleep(200);
    }
  }

  /** A reboot: every process of the node killed at once, /run emptied, mounts gone. */
  private void reboot() throws Exception {
    for (String unit : List.of("lamina.service", "containerd.service")) {
      Path pidfile = units.resolve(unit + ".pid");
      if (Files.exists(pidfile)) {
        String pid = Files.readString(pidfile).strip();
        Commands.run("kill", "-KILL", "--", "-" + pid);
        Files.delete(pidfile);
      }
    }
    registry.kill();
    Thread.sleep(500);
    ContainerdHarness.unmountUnder(dir);
    for (Path run : List.of(dir.resolve("run"), dir.resolve("containerd"))) {
      try (var s = Files.walk(run)) {
        s.sorted(java.util.Comparator.reverseOrder()).filter(p -> !p.equals(run)).forEach(p -> p.toFile().delete());
      }
      assertThat(run).isEmptyDirectory();
    }
  }

  @AfterEach
  void tearDown() throws Exception {
    if (units != null) {
      for (String unit : List.of("lamina.service", "containerd.service")) {
        Path pidfile = units.resolve(unit + ".pid");
        if (Files.exists(pidfile)) {
          Commands.run("kill", "-KILL", "--", "-" + Files.readString(pidfile).strip());
        }
      }
      Thread.sleep(300);
      ContainerdHarness.unmountUnder(dir);
    }
    if (registry != null) {
      registry.close();
    }
    Files.deleteIfExists(dir.resolve("image/opt/lamina/jre")); // a link to this JVM, not to be followed
  }

  @Test
  void aRebootedNodeBringsLaminaBackBeforeKubeletAndUninstallLeavesNothing() throws Exception {
    Root.assumeRoot("lamina's overlay snapshotter and containerd need root");
    Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/containerd")) && Commands.succeeds("ctr", "--version"),
        "containerd not installed (apt-get install containerd)");
    Assumptions.assumeTrue(DockerRegistry.installed(), DockerRegistry.MISSING);
    Umoci.assumeInstalled();
    Assumptions.assumeTrue(Commands.succeeds("curl", "--version"), "curl not installed");
    ContainerdLaminaProcess.assumeBuilt();

    node = dir.resolve("node");
    units = Files.createDirectories(dir.resolve("units"));
    Path containerdConfig = node.resolve("etc/containerd/config.toml");
    Path systemdDir = Files.createDirectories(node.resolve("etc/systemd/system"));
    Files.createDirectories(containerdConfig.getParent());
    Files.createDirectories(dir.resolve("containerd"));
    String original = String.join("\n",
        "version = 2",
        "root = \"" + dir.resolve("containerd-root") + "\"",
        "state = \"" + dir.resolve("containerd/state") + "\"",
        "disabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.snapshotter.v1.aufs\",",
        "  \"io.containerd.snapshotter.v1.btrfs\", \"io.containerd.snapshotter.v1.zfs\",",
        "  \"io.containerd.snapshotter.v1.devmapper\"]",
        "",
        "[grpc]",
        "  address = \"" + containerdSocket() + "\"",
        "[ttrpc]",
        "  address = \"" + containerdSocket() + ".ttrpc\"",
        "[plugins.\"io.containerd.internal.v1.opt\"]",
        "  path = \"" + dir.resolve("containerd-opt") + "\"",
        "[plugins.\"io.containerd.grpc.v1.cri\".containerd]",
        "  snapshotter = \"overlayfs\"",
        "");
    Files.writeString(containerdConfig, original);

    // what the image carries: bin/lamina, the jar and a Java runtime, under /opt/lamina
    Path image = Files.createDirectories(dir.resolve("image/opt/lamina"));
    Files.createDirectories(image.resolve("bin"));
    Files.copy(ContainerdHarness.projectRoot().resolve("bin/lamina"), image.resolve("bin/lamina"));
    Files.copy(ContainerdLaminaProcess.jar(), image.resolve("lamina.jar"));
    Files.createSymbolicLink(image.resolve("jre"), Path.of(System.getProperty("java.home")));

    NodeSetup setup = NodeSetup.of(dir, "metrics.enabled", false, "containerd.restart", true,
        "containerd.configDir", containerdConfig.getParent().toString(),
        "host.installDir", node.resolve("opt/lamina").toString(),
        "host.configDir", node.resolve("etc/lamina").toString(),
        "host.systemdDir", systemdDir.toString());
    Path standIn = writeSystemctl(containerdConfig, systemdDir);
    setup.env.put("HOST", ""); // the node's paths are the temporary ones themselves
    setup.env.put("HOST_EXEC", standIn.toString());
    setup.env.put("LAMINA_SOURCE", image.toString());
    setup.env.put("SOCKET_WAIT_SECONDS", "90");
    Path criSocket = setup.criSocket();

    // the node before the chart: containerd running, without lamina; a registry with both images
    Files.writeString(units.resolve("containerd.service.enabled"), "");
    assertThat(systemctl(standIn, "start", "containerd.service").ok()).isTrue();
    awaitContainerd();
    assertThat(ctr("snapshots", "--snapshotter", "lamina", "ls").ok()).as("no lamina before the install").isFalse();
    registry = DockerRegistry.start(dir.resolve("registry"));
    String self = pushImage("lamina", "own image");
    String user = pushImage("app", "a user's pod");

    // helm install: the init container
    NodeSetup.Run install = setup.check("install");
    assertThat(install.output()).contains("node set up (systemd mode)");
    assertThat(Files.readString(units.resolve("commands.log"))).contains("systemctl enable lamina.service")
        .contains("systemctl restart containerd.service");
    assertThat(units.resolve("lamina.service.enabled")).exists();
    String unit = Files.readString(systemdDir.resolve("lamina.service"));
    assertThat(unit).contains("\nBefore=kubelet.service containerd.service\n").contains("\nWantedBy=multi-user.target\n");
    awaitContainerd();
    try (CriImagesClient cri = CriImagesClient.connect(criSocket)) {
      cri.pull(self, null, PULL); // kubelet's first pull of lamina's own image (by then through lamina)
    }

    reboot();
    assertThat(criSocket).doesNotExist();

    // boot: systemd starts the enabled units, lamina first (Before=containerd.service kubelet.service);
    // kubelet would start once lamina.service is started, i.e. its CRI socket is there
    List<String> enabled;
    try (var s = Files.list(units)) {
      enabled = s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".enabled"))
          .map(n -> n.substring(0, n.length() - ".enabled".length())).sorted().toList();
    }
    assertThat(enabled).containsExactly("containerd.service", "lamina.service");
    Commands.Result started = systemctl(standIn, "start", "lamina.service");
    assertThat(started.ok()).as(started.stderr() + log("lamina.service.log")).isTrue();
    assertThat(criSocket).as("ExecStartPost waits for the CRI socket").exists();
    assertThat(systemctl(standIn, "start", "containerd.service").ok()).isTrue();
    awaitContainerd();

    // kubelet's calls: lamina's own pod finds its image without a registry; a user pod pulls
    try (CriImagesClient cri = CriImagesClient.connect(criSocket)) {
      assertThat(cri.status(self)).as("lamina's own image after the reboot, with the registry down").isPresent();
      registry.restart();
      String id = cri.pull(user, null, PULL);
      assertThat(cri.status(user)).hasValueSatisfying(i -> assertThat(i.getId()).isEqualTo(id));
    }
    // containerd reaches lamina through the proxy plugin node-setup.sh added
    Commands.Result prepare = ctr("snapshots", "--snapshotter", "lamina", "prepare", "after-boot");
    assertThat(prepare.ok()).as(prepare.stderr() + log("containerd.log")).isTrue();
    assertThat(ctr("snapshots", "--snapshotter", "lamina", "ls").stdout()).contains("after-boot");
    assertThat(ctr("snapshots", "--snapshotter", "lamina", "rm", "after-boot").ok()).isTrue();

    // helm uninstall: containerd back on its own snapshotter, lamina's install gone
    NodeSetup.Run uninstall = setup.check("uninstall");
    assertThat(uninstall.output()).contains("node reverted");
    assertThat(Files.readString(containerdConfig)).isEqualTo(original);
    awaitContainerd();
    assertThat(ctr("snapshots", "--snapshotter", "lamina", "ls").ok()).as("containerd without lamina again").isFalse();
    assertThat(units.resolve("lamina.service.pid")).as("lamina stopped").doesNotExist();
    assertThat(units.resolve("lamina.service.enabled")).doesNotExist();
    assertThat(systemdDir.resolve("lamina.service")).doesNotExist();
    assertThat(node.resolve("opt/lamina")).doesNotExist();
    assertThat(node.resolve("etc/lamina")).doesNotExist();
    try (var s = Files.list(containerdConfig.getParent())) {
      assertThat(s.map(p -> p.getFileName().toString())).containsExactly("config.toml");
    }
  }

  private String log(String name) {
    try {
      return "\n" + Files.readString(units.resolve(name));
    } catch (IOException e) {
      return "";
    }
  }

  /** A one-layer image (one file saying {@code what}) pushed as {@code repository:1}. */
  private String pushImage(String repository, String what) throws Exception {
    Path layout = dir.resolve("images/" + repository);
    Umoci umoci = Umoci.create(layout, "1", Files.createDirectories(dir.resolve("images/scratch-" + repository)));
    umoci.layer(rootfs -> Files.writeString(rootfs.resolve("what"), what + "\n"));
    return registry.push(layout, "1", repository);
  }
}
