package dev.lamina.deploy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * containerd imports the image archive and runs {@code lamina --version} in it, as a node would
 * after {@code ctr -n k8s.io images import}. The containerd is the test's own: its root, state,
 * sockets and {@code opt} under a temporary directory, the CRI plugin off.
 */
class ContainerdRunIT {
  private static final String NAMESPACE = "lamina-image-test";

  private Path dir;
  private Process containerd;
  private Path socket;

  @Test
  void importsTheArchiveAndRunsLaminaInIt() throws Exception {
    assumeTrue(Exec.root(), "containerd and runc need root");
    assumeTrue(Files.isExecutable(Path.of("/usr/bin/containerd")) && Exec.installed("ctr"),
        "containerd not installed (apt-get install containerd)");
    assumeTrue(Exec.installed("runc"), "runc not installed (apt-get install runc)");
    // not JUnit's temporary directory: its clean-up warns of every absolute link in the image
    dir = Files.createTempDirectory("lamina-image-containerd-");
    startContainerd();

    String imported = ctr("images", "import", "--all-platforms", ImageArchiveIT.ARCHIVE.toString()).check().out();
    assertThat(imported).contains(ImageArchiveIT.NAME);
    assertThat(ctr("images", "ls", "-q").check().out().lines()).contains(ImageArchiveIT.NAME);

    Exec run = ctr("run", "--rm", ImageArchiveIT.NAME, "t1", "lamina", "--version").check();
    assertThat(run.out().strip()).startsWith("lamina " + ImageArchiveIT.VERSION + " (commit "
        + ImageArchiveIT.REVISION.substring(0, 12) + ")");
  }

  private Exec ctr(String... args) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>(List.of("ctr", "--address", socket.toString(), "--namespace", NAMESPACE));
    command.addAll(List.of(args));
    return Exec.run(180, command.toArray(String[]::new));
  }

  private void startContainerd() throws IOException, InterruptedException {
    socket = dir.resolve("containerd.sock");
    Path config = dir.resolve("containerd.toml");
    Files.writeString(config, String.join("\n",
        "version = 2",
        "root = \"" + dir.resolve("root") + "\"",
        "state = \"" + dir.resolve("state") + "\"",
        "disabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.snapshotter.v1.aufs\",",
        "  \"io.containerd.snapshotter.v1.btrfs\", \"io.containerd.snapshotter.v1.zfs\",",
        "  \"io.containerd.snapshotter.v1.devmapper\"]",
        "[grpc]",
        "  address = \"" + socket + "\"",
        "[ttrpc]",
        "  address = \"" + socket + ".ttrpc\"",
        "[plugins.\"io.containerd.internal.v1.opt\"]",
        "  path = \"" + dir.resolve("opt") + "\"",
        ""), StandardCharsets.UTF_8);
    containerd = new ProcessBuilder("/usr/bin/containerd", "--config", config.toString())
        .redirectErrorStream(true).redirectOutput(dir.resolve("containerd.log").toFile()).start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (!(Files.exists(socket) && ctr("version").ok())) {
      if (!containerd.isAlive() || System.nanoTime() > deadline) {
        throw new IOException("containerd did not start:\n" + Files.readString(dir.resolve("containerd.log")));
      }
      Thread.sleep(200);
    }
  }

  @AfterEach
  void stopContainerd() throws Exception {
    if (dir == null) {
      return;
    }
    if (containerd == null) {
      Exec.run("rm", "-rf", dir.toString());
      return;
    }
    containerd.destroy();
    if (!containerd.waitFor(20, TimeUnit.SECONDS)) {
      containerd.destroyForcibly().waitFor();
    }
    // shims of this containerd (their command line names its socket) that outlived it
    String address = socket.toString();
    ProcessHandle.allProcesses()
        .filter(p -> p.info().command().orElse("").contains("containerd-shim")
            && List.of(p.info().arguments().orElse(new String[0])).contains(address))
        .forEach(ProcessHandle::destroyForcibly);
    // mounts left under the directory (a container's root file system), deepest first
    List<String> mounts = new ArrayList<>();
    for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
      String target = line.split(" ")[4].replace("\\040", " ");
      if (target.startsWith(dir + "/")) {
        mounts.add(target);
      }
    }
    mounts.sort(Comparator.comparingInt(String::length).reversed());
    for (String m : mounts) {
      Exec.run("umount", "-l", m);
    }
    Exec.run("rm", "-rf", "--one-file-system", dir.toString()).check();
  }
}
