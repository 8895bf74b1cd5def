package dev.lamina.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.containerd.snapshots.v1.Info;
import dev.lamina.containerd.snapshots.v1.Kind;
import dev.lamina.cri.runtime.v1.Api;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pods on a {@link CriNode}, driven as kubelet drives a node: image calls to an image service,
 * {@code RunPodSandbox}, {@code CreateContainer}, {@code StartContainer}, {@code ExecSync}, {@code
 * ContainerStats}, then stop and remove everything, and nothing is left behind: no mounts under the
 * node's directory, no network namespace, no veth on the pods' bridge, no shim or container
 * process, no active lamina snapshot.
 *
 * <p>The image is the layered busybox of {@link ContainerdTestImages#busybox} (whiteouts, an opaque
 * directory) and the sandbox image a busybox sleep loop, both in a local docker-registry. The
 * container writes 2 MiB, which {@code ContainerStats} reports as its writable layer (lamina's
 * {@code Usage} of the container's active snapshot, through containerd).
 *
 * <p>Two image paths: containerd pulls through its own CRI ImageService into lamina (proxy
 * snapshotter), or lamina pulls through its CRI socket and registers the image in containerd.
 */
class CriPodTest {
  private static final String WRITER = "mkdir -p /data && echo written-by-pod > /data/greeting"
      + " && dd if=/dev/zero of=/data/blob bs=1024 count=2048 2>/dev/null && sync && echo ready"
      + " && trap 'exit 0' TERM; while :; do sleep 1; done";
  private static final long BLOB_BYTES = 2048 * 1024;

  @TempDir static Path tmp;

  private static DockerRegistry registry;
  private static String pauseRef;
  private static String imageRef;

  @BeforeAll
  static void imagesInARegistry() throws Exception {
    CriNode.assumeUsable(tmp.resolve("probe"));
    Umoci.assumeInstalled();
    Assumptions.assumeTrue(DockerRegistry.installed(), DockerRegistry.MISSING);
    Assumptions.assumeTrue(ContainerdTestImages.busyboxIsStatic(),
        ContainerdTestImages.BUSYBOX + " is missing or not static (apt-get install busybox-static)");
    ContainerdTestImages.Built pause = ContainerdTestImages.pause(tmp.resolve("pause"), "1");
    ContainerdTestImages.Built image = ContainerdTestImages.busybox(tmp.resolve("image"), "1");
    registry = DockerRegistry.start(tmp.resolve("registry"));
    pauseRef = registry.push(pause.layout(), pause.tag(), "e2e/pause");
    imageRef = registry.push(image.layout(), image.tag(), "e2e/writer");
  }

  @AfterAll
  static void stopRegistry() {
    if (registry != null) {
      registry.close();
    }
  }

  @Test
  void podRunsFromAnImageContainerdPulledIntoLamina() throws Exception {
    try (CriNode node = CriNode.start(tmp.resolve("node-containerd-pull"), registry.host(), pauseRef, false);
        CriImagesClient images = CriImagesClient.connect(node.containerdSocket())) {
      String imageId = images.pull(imageRef, null, Duration.ofMinutes(2));
      assertThat(imageId).startsWith("sha256:");
      runPodAndCleanUp(node, imageId);
    }
  }

  @Test
  void podRunsFromAnImageLaminaPulledAndRegisteredInContainerd() throws Exception {
    try (CriNode node = CriNode.start(tmp.resolve("node-lamina-pull"), registry.host(), pauseRef, true);
        CriImagesClient images = CriImagesClient.connect(node.lamina().criSocket())) {
      String imageId = images.pull(imageRef, null, Duration.ofMinutes(2));
      assertThat(imageId).startsWith("sha256:");
      runPodAndCleanUp(node, imageId);
    }
  }

  /**
   * The lamina-pulled image through both daemons' restarts: lamina SIGKILLed under a running
   * container (it keeps running, and its writable layer is still measured), containerd's GC after
   * the container is removed (the image keeps its layers), containerd restarted (a second container
   * starts from the image), then {@code RemoveImage} through lamina takes it out of containerd too.
   */
  @Test
  void laminaImageOutlivesRestartsAndContainerdsCollectorUntilLaminaRemovesIt() throws Exception {
    try (CriNode node = CriNode.start(tmp.resolve("node-restarts"), registry.host(), pauseRef, true)) {
      String imageId;
      try (CriImagesClient images = CriImagesClient.connect(node.lamina().criSocket())) {
        imageId = images.pull(imageRef, null, Duration.ofMinutes(2));
      }
      String uid = UUID.randomUUID().toString();
      Path podLogs = Files.createDirectories(node.dir().resolve("pods/default_restarts_" + uid));
      Files.createDirectories(podLogs.resolve("writer"));
      Api.PodSandboxConfig pod = CriRuntimeClient.pod("restarts", uid, "default", "restarts-host", podLogs);
      String podId = node.runtime().runPodSandbox(pod);
      String first = startWriter(node, podId, pod, imageId, "writer/0.log");

      node.restartLamina(true);
      assertThat(node.runtime().containerStatus(first).getState()).as("the container, lamina killed under it")
          .isEqualTo(Api.ContainerState.CONTAINER_RUNNING);
      assertThat(exec(node.runtime(), first, "cat", "/data/greeting").stdout()).isEqualTo("written-by-pod\n");
      awaitTrue("ContainerStats after lamina's restart counts the 2 MiB", Duration.ofSeconds(30),
          () -> node.runtime().containerStats(first).getWritableLayer().getUsedBytes().getValue() >= BLOB_BYTES);

      node.runtime().stopContainer(first, Duration.ofSeconds(10));
      node.runtime().removeContainer(first);
      try (ContainerdSnapshotsClient lamina = ContainerdSnapshotsClient.lamina(node.lamina().socket())) {
        Set<String> committed = committed(lamina);
        awaitTrue("containerd's GC removes the first container's snapshot", Duration.ofSeconds(30),
            () -> activeSnapshots(node, lamina).size() <= 1); // the sandbox's own stays
        assertThat(committed(lamina)).as("lamina's layers after containerd's collections").isEqualTo(committed);
      }

      node.restartContainerd();
      String second = startWriter(node, podId, pod, imageId, "writer/1.log");
      assertThat(exec(node.runtime(), second, "cat", "/etc/added").stdout()).isEqualTo("layer 2\n");
      node.runtime().stopContainer(second, Duration.ofSeconds(10));
      node.runtime().removeContainer(second);
      node.runtime().stopPodSandbox(podId);
      node.runtime().removePodSandbox(podId);

      try (CriImagesClient lamina = CriImagesClient.connect(node.lamina().criSocket());
          CriImagesClient containerd = CriImagesClient.connect(node.containerdSocket())) {
        assertThat(containerd.status(imageId)).as("the image in containerd's CRI before removal").isPresent();
        lamina.remove(imageId);
        assertThat(lamina.status(imageId)).isEmpty();
        awaitTrue("containerd's CRI forgets the image lamina removed", Duration.ofSeconds(20),
            () -> containerd.status(imageId).isEmpty() && containerd.status(imageRef).isEmpty());
      }
    }
  }

  /** Creates and starts the writer container in the pod and waits until it has written its files. */
  private static String startWriter(CriNode node, String podId, Api.PodSandboxConfig pod, String imageId,
      String logPath) {
    CriRuntimeClient cri = node.runtime();
    String id = cri.createContainer(podId,
        CriRuntimeClient.container("writer", imageId, List.of("/bin/sh", "-c", WRITER), logPath), pod);
    cri.startContainer(id);
    awaitTrue("container " + id + " writes /data", Duration.ofSeconds(30),
        () -> exec(cri, id, "cat", "/data/greeting").exitCode() == 0
            && exec(cri, id, "stat", "-c", "%s", "/data/blob").stdout().strip().equals(Long.toString(BLOB_BYTES)));
    return id;
  }

  /** kubelet's calls for one pod with one container, the checks on it, and its removal. */
  private static void runPodAndCleanUp(CriNode node, String imageId) throws Exception {
    CriRuntimeClient cri = node.runtime();
    Set<Path> hostNetns = hostNetns();
    String uid = UUID.randomUUID().toString();
    Path podLogs = Files.createDirectories(node.dir().resolve("pods/default_writer_" + uid));
    Files.createDirectories(podLogs.resolve("writer"));
    Api.PodSandboxConfig pod = CriRuntimeClient.pod("writer", uid, "default", "writer-host", podLogs);

    String podId = cri.runPodSandbox(pod);
    assertThat(cri.podSandboxStatus(podId).getState()).isEqualTo(Api.PodSandboxState.SANDBOX_READY);
    assertThat(netnsMounts(node)).as("the pod's network namespace, mounted under containerd's state dir").hasSize(1);
    assertThat(node.bridgePorts()).as("the pod's veth on bridge %s", node.bridge()).hasSize(1);

    String containerId = cri.createContainer(podId,
        CriRuntimeClient.container("writer", imageId, List.of("/bin/sh", "-c", WRITER), "writer/0.log"), pod);
    cri.startContainer(containerId);
    assertThat(cri.containerStatus(containerId).getState()).isEqualTo(Api.ContainerState.CONTAINER_RUNNING);

    awaitTrue("the container writes /data", Duration.ofSeconds(30),
        () -> exec(cri, containerId, "cat", "/data/greeting").exitCode() == 0
            && Files.exists(podLogs.resolve("writer/0.log")) && readQuietly(podLogs.resolve("writer/0.log"))
            .contains("ready"));
    assertThat(exec(cri, containerId, "cat", "/data/greeting")).isEqualTo(new CriRuntimeClient.Exec(0,
        "written-by-pod\n", ""));
    assertThat(exec(cri, containerId, "stat", "-c", "%s", "/data/blob").stdout().strip())
        .isEqualTo(Long.toString(BLOB_BYTES));
    // the image's layers as lamina keeps them: a later layer's file, an opaque directory's new contents
    assertThat(exec(cri, containerId, "cat", "/etc/added").stdout()).isEqualTo("layer 2\n");
    assertThat(exec(cri, containerId, "ls", "/opq").stdout().lines().toList()).containsExactly("after", "new1");
    assertThat(exec(cri, containerId, "cat", "/proc/sys/kernel/hostname").stdout()).isEqualTo("writer-host\n");
    assertThat(exec(cri, containerId, "cat", "/data/missing").exitCode()).as("exit code of a failing exec").isOne();

    Api.ContainerStats[] stats = new Api.ContainerStats[1];
    awaitTrue("ContainerStats counts the 2 MiB the container wrote", Duration.ofSeconds(30), () -> {
      stats[0] = cri.containerStats(containerId);
      return stats[0].getWritableLayer().getUsedBytes().getValue() >= BLOB_BYTES;
    });
    assertThat(stats[0].getAttributes().getId()).isEqualTo(containerId);
    assertThat(stats[0].getWritableLayer().getInodesUsed().getValue()).as("inodes of the writable layer")
        .isGreaterThanOrEqualTo(3); // /data, /data/greeting, /data/blob
    assertThat(stats[0].getWritableLayer().getUsedBytes().getValue()).as("writable layer bytes")
        .isLessThan(BLOB_BYTES + 1024 * 1024);

    List<ProcessHandle> processes = node.shimsAndChildren();
    assertThat(processes).as("the shim and the pod's processes").hasSizeGreaterThanOrEqualTo(3);

    cri.stopContainer(containerId, Duration.ofSeconds(10));
    Api.ContainerStatus stopped = cri.containerStatus(containerId);
    assertThat(stopped.getState()).isEqualTo(Api.ContainerState.CONTAINER_EXITED);
    assertThat(stopped.getExitCode()).as("the shell's TERM trap exits 0").isZero();
    cri.removeContainer(containerId);
    cri.stopPodSandbox(podId);
    cri.removePodSandbox(podId);

    assertThat(cri.listContainers()).isEmpty();
    assertThat(cri.listPodSandboxes()).isEmpty();
    awaitTrue("the shim and the pod's processes exit", Duration.ofSeconds(20),
        () -> processes.stream().noneMatch(ProcessHandle::isAlive));
    assertThat(ContainerdHarness.mountsUnder(node.dir())).as("mounts left under " + node.dir()).isEmpty();
    assertThat(node.bridgePorts()).as("veths left on bridge %s", node.bridge()).isEmpty();
    assertThat(hostNetns()).as("network namespaces in /var/run/netns").isEqualTo(hostNetns);
    try (ContainerdSnapshotsClient lamina = ContainerdSnapshotsClient.lamina(node.lamina().socket())) {
      awaitTrue("containerd's GC removes the pod's active snapshots from lamina", Duration.ofSeconds(30),
          () -> activeSnapshots(node, lamina).isEmpty());
    }
  }

  private static CriRuntimeClient.Exec exec(CriRuntimeClient cri, String containerId, String... cmd) {
    return cri.execSync(containerId, Duration.ofSeconds(20), cmd);
  }

  /** lamina's active snapshots; after a few seconds asks containerd for a garbage collection. */
  private static List<Info> activeSnapshots(CriNode node, ContainerdSnapshotsClient lamina) {
    List<Info> active = lamina.list().stream().filter(i -> i.getKind() == Kind.ACTIVE).toList();
    if (!active.isEmpty()) {
      try {
        String lease = "e2e-gc-" + System.nanoTime();
        List<String> ctr = List.of("ctr", "-a", node.containerdSocket().toString(), "-n", CriNode.NAMESPACE,
            "leases");
        Commands.run(null, Commands.DEFAULT_TIMEOUT, concat(ctr, "create", "--id", lease)).check();
        Commands.run(null, Commands.DEFAULT_TIMEOUT, concat(ctr, "delete", "--sync", lease)).check();
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
    }
    return active;
  }

  private static Set<String> committed(ContainerdSnapshotsClient lamina) {
    return lamina.list().stream().filter(i -> i.getKind() == Kind.COMMITTED).map(Info::getName)
        .collect(Collectors.toSet());
  }

  private static List<String> concat(List<String> head, String... tail) {
    return Stream.concat(head.stream(), Stream.of(tail)).toList();
  }

  /** Network namespaces containerd mounted under the node's directory. */
  private static List<Path> netnsMounts(CriNode node) throws IOException {
    return ContainerdHarness.mountsUnder(node.dir()).stream()
        .filter(p -> p.getParent() != null && p.getParent().getFileName().toString().equals("netns")).toList();
  }

  /** The named network namespaces of the host ({@code ip netns}'s directory). */
  private static Set<Path> hostNetns() throws IOException {
    Path dir = Path.of("/var/run/netns");
    if (!Files.isDirectory(dir)) {
      return Set.of();
    }
    try (Stream<Path> s = Files.list(dir)) {
      return s.collect(Collectors.toSet());
    }
  }

  private static String readQuietly(Path p) {
    try {
      return Files.readString(p);
    } catch (IOException e) {
      return "";
    }
  }

  private static void awaitTrue(String what, Duration timeout, BooleanSupplier condition) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError(what + ": not within " + timeout);
      }
      ContainerdLaminaProcess.sleep(200);
    }
  }
}
