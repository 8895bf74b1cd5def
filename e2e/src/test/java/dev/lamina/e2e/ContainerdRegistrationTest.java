package dev.lamina.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.lamina.containerd.snapshots.v1.Info;
import dev.lamina.containerd.snapshots.v1.Kind;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * lamina and a real containerd as one node: an image pulled through lamina's CRI socket is an
 * image of containerd's ({@code ctr images ls}, its snapshots in {@code ctr snapshots ls}),
 * containerd runs containers on it, its garbage collector leaves lamina's layers alone, and both
 * sides restart without losing anything. One scenario in steps, in order.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ContainerdRegistrationTest {
  private static final Duration SETTLE = Duration.ofSeconds(30);

  @TempDir static Path tmp;

  private static DockerRegistry registry;
  private static ContainerdHarness harness;
  private static CriImagesClient cri;
  private static ContainerdTestImages.Built image;
  private static String ref;
  private static String imageId;

  @BeforeAll
  static void start() throws Exception {
    ContainerdHarness.assumeUsable(tmp.resolve("probe"));
    Umoci.assumeInstalled();
    Assumptions.assumeTrue(DockerRegistry.installed(), DockerRegistry.MISSING);
    Assumptions.assumeTrue(ContainerdTestImages.busyboxIsStatic(),
        ContainerdTestImages.BUSYBOX + " is missing or not static (apt-get install busybox-static)");
    image = ContainerdTestImages.busybox(tmp.resolve("image"), "1");
    registry = DockerRegistry.start(tmp.resolve("registry"));
    ref = registry.push(image.layout(), image.tag(), "test/linked");
    Path dir = tmp.resolve("h");
    harness = ContainerdHarness.start(dir, List.of(
        "--containerd-address", ContainerdHarness.containerdSocket(dir).toString(),
        "--containerd-namespace", ContainerdHarness.NAMESPACE,
        "--containerd-snapshotter", ContainerdHarness.SNAPSHOTTER));
    harness.lamina().awaitCriSocket(Duration.ofSeconds(30));
    cri = CriImagesClient.connect(harness.lamina().criSocket());
  }

  @AfterAll
  static void stop() throws Exception {
    ContainerdHarness.closeAllThenUnmount(tmp, cri, harness, registry);
  }

  private static Set<String> containerdImages() throws Exception {
    return harness.ctr("images", "ls", "-q").check().stdout().lines().map(String::strip)
        .filter(l -> !l.isEmpty()).collect(Collectors.toSet());
  }

  private static void await(String what, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + SETTLE.toNanos();
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("%s within %s", what, SETTLE).isLessThan(deadline);
      Thread.sleep(100);
    }
  }

  /** Runs {@code script} in a new container on the image; returns its output. */
  private static String run(String id, String script) throws Exception {
    return harness.ctr(Duration.ofMinutes(2), "run", "--rm", "--snapshotter", ContainerdHarness.SNAPSHOTTER, ref, id,
        "/bin/sh", "-c", script).check().stdout();
  }

  /** lamina's own snapshots, by name. */
  private static List<Info> laminaSnapshots() {
    return harness.client().list();
  }

  @Test
  @Order(1)
  void anImagePulledThroughLaminaIsAnImageOfContainerds() throws Exception {
    imageId = cri.pull(ref, null, Duration.ofMinutes(2));

    // the pull returns once containerd has it: no waiting here
    String digestRef = ref.substring(0, ref.lastIndexOf(':')) + "@" + image.image().manifestDigest();
    assertThat(containerdImages()).contains(ref, digestRef, imageId);
    String snapshots = harness.snapshots("ls").check().stdout();
    for (String chainId : image.chainIds()) {
      assertThat(snapshots).as("ctr snapshots ls").contains(chainId);
    }
    assertThat(harness.ctr("content", "ls", "-q").check().stdout())
        .contains(image.image().manifestDigest(), image.image().configDigest());
  }

  @Test
  @Order(2)
  void containerdRunsAContainerOnItThatSeesTheImagesFilesAndWrites() throws Exception {
    String out = run("linked-1", "echo written > /tmp-file && cat /tmp-file && ls /bin/busybox");
    assertThat(out).contains("written").contains("/bin/busybox");
  }

  @Test
  @Order(3)
  void containerdsGarbageCollectorLeavesLaminasLayersAndAllowsASecondContainer() throws Exception {
    harness.collectGarbage();
    List<String> committed = laminaSnapshots().stream().filter(i -> i.getKind() == Kind.COMMITTED)
        .map(Info::getName).toList();
    assertThat(committed).containsAll(image.chainIds());
    assertThat(laminaSnapshots()).as("the first container's snapshot is gone")
        .noneMatch(i -> i.getName().endsWith("/linked-1"));
    assertThat(run("linked-2", "cat /etc/hostname >/dev/null 2>&1; echo second")).contains("second");
  }

  @Test
  @Order(4)
  void aRemoveOfLaminasLayersThroughTheSnapshotsApiIsRefused() {
    String top = image.chainIds().get(image.chainIds().size() - 1);
    assertThatThrownBy(() -> harness.client().remove(top))
        .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
          assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
          assertThat(e.getStatus().getDescription()).contains(top).contains("lamina");
        });
    assertThat(laminaSnapshots()).extracting(Info::getName).contains(top);
  }

  /** lamina is the source of truth for what it pulled: an image deleted in containerd comes back. */
  @Test
  @Order(5)
  void anImageDeletedThroughContainerdIsRegisteredAgain() throws Exception {
    harness.ctr("images", "rm", ref, imageId).check();
    harness.collectGarbage();
    await("the image back in containerd", () -> {
      try {
        return containerdImages().containsAll(List.of(ref, imageId));
      } catch (Exception e) {
        return false;
      }
    });
    assertThat(laminaSnapshots()).extracting(Info::getName).containsAll(image.chainIds());
    assertThat(run("linked-3", "echo third")).contains("third");
  }

  /** A container keeps running while lamina is killed; the restarted lamina loses nothing. */
  @Test
  @Order(6)
  void laminaKilledAndRestartedLosesNothing() throws Exception {
    harness.ctr("run", "-d", "--snapshotter", ContainerdHarness.SNAPSHOTTER, ref, "linked-long", "/bin/sleep", "600")
        .check();
    harness.restartLamina(true);
    harness.lamina().awaitCriSocket(Duration.ofSeconds(30));
    // containerd's gRPC client redials the proxy with a backoff of its own
    await("containerd reconnected to lamina", () -> {
      try {
        return harness.snapshots("ls").ok();
      } catch (Exception e) {
        return false;
      }
    });
    assertThat(harness.ctr("tasks", "ls").check().stdout()).containsPattern("linked-long\\s+\\d+\\s+RUNNING");
    harness.ctr("tasks", "kill", "-s", "SIGKILL", "linked-long").check();
    await("the task stopped", () -> {
      try {
        return !harness.ctr("tasks", "ls").check().stdout().contains("RUNNING");
      } catch (Exception e) {
        return false;
      }
    });
    harness.ctr("tasks", "delete", "linked-long").check();
    harness.ctr("containers", "rm", "linked-long").check();
    harness.collectGarbage();
    assertThat(laminaSnapshots()).extracting(Info::getName).containsAll(image.chainIds());
    assertThat(run("linked-4", "echo fourth")).contains("fourth");
  }

  /** containerd restarted: lamina registers again what a fresh containerd lacks, and serves on meanwhile. */
  @Test
  @Order(7)
  void containerdRestartedFindsTheImage() throws Exception {
    harness.restartContainerd();
    assertThat(containerdImages()).contains(ref, imageId);
    assertThat(run("linked-5", "echo fifth")).contains("fifth");
  }

  @Test
  @Order(8)
  void removingTheImageThroughLaminaRemovesItFromContainerd() throws Exception {
    cri.remove(imageId);
    await("containerd's records gone", () -> {
      try {
        Set<String> left = containerdImages();
        return !left.contains(ref) && !left.contains(imageId);
      } catch (Exception e) {
        return false;
      }
    });
    harness.collectGarbage();
    await("lamina's layers collected", () -> laminaSnapshots().stream()
        .noneMatch(i -> image.chainIds().contains(i.getName())));
  }

  /**
   * containerd's collector removes every backend snapshot it has no record of, which includes a
   * layer lamina is unpacking, whenever a snapshot was removed through containerd since its last
   * collection: a pull slowed down by a relay, with such removals and collections all through it,
   * still completes, and containerd runs the image.
   */
  @Test
  @Order(9)
  void aPullInFlightSurvivesContainerdsGarbageCollections() throws Exception {
    int size = 24 << 20;
    Path work = tmp.resolve("slow");
    Umoci umoci = Umoci.create(work.resolve("layout"), "1", java.nio.file.Files.createDirectories(work.resolve("s")));
    byte[] data = new byte[size];
    new java.util.Random(7).nextBytes(data);
    byte[] busybox = java.nio.file.Files.readAllBytes(ContainerdTestImages.BUSYBOX);
    umoci.layer(rootfs -> dev.lamina.fstest.FsTree.apply(rootfs, dev.lamina.fstest.FsTree.dir("bin", 0755),
        dev.lamina.fstest.FsTree.file("bin/busybox", busybox, 0755)));
    umoci.layer(rootfs -> dev.lamina.fstest.FsTree.apply(rootfs,
        dev.lamina.fstest.FsTree.dir("data", 0755), dev.lamina.fstest.FsTree.file("data/blob", data, 0644)));
    registry.push(work.resolve("layout"), "1", "test/slow");
    try (ThrottlingRelay relay = ThrottlingRelay.start(registry.port(), 8L << 20)) {
      String slow = relay.host() + "/test/slow:1";
      java.util.concurrent.CompletableFuture<String> pull = java.util.concurrent.CompletableFuture.supplyAsync(
          () -> cri.pull(slow, null, Duration.ofMinutes(2)));
      int collections = 0;
      while (!pull.isDone()) {
        // as a pod sandbox's removal does: a snapshot removed marks lamina's snapshotter for collection
        String key = "sandbox-" + collections;
        harness.containerdClient().prepare(key, "");
        harness.containerdClient().remove(key);
        harness.collectGarbage();
        collections++;
      }
      String id = pull.get();
      assertThat(collections).as("collections while the layer was unpacked").isGreaterThan(3);
      assertThat(id).startsWith("sha256:");
      assertThat(harness.ctr(Duration.ofMinutes(2), "run", "--rm", "--snapshotter", ContainerdHarness.SNAPSHOTTER,
          slow, "slow-1", "/bin/busybox", "stat", "-c", "%s", "/data/blob").stdout().strip())
          .isEqualTo(Integer.toString(size));
    }
  }

  /**
   * A pull that ends while the restarted lamina still reconciles with containerd (or before it has
   * tried) is registered before it returns, as any other: kubelet's CreateContainer follows at once.
   */
  @Test
  @Order(10)
  void aPullRightAfterStartIsInContainerdWhenItReturns() throws Exception {
    String again = registry.push(image.layout(), image.tag(), "test/right-after-start");
    harness.restartLamina(false);
    cri.close();
    harness.lamina().awaitCriSocket(Duration.ofSeconds(30));
    cri = CriImagesClient.connect(harness.lamina().criSocket());
    String id = cri.pull(again, null, Duration.ofMinutes(2));
    assertThat(containerdImages()).contains(again, id);
  }
}
