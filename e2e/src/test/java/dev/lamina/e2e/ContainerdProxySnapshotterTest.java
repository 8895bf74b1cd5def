package dev.lamina.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lamina.containerd.snapshots.v1.Info;
import dev.lamina.containerd.snapshots.v1.Kind;
import dev.lamina.containerd.snapshots.v1.UsageResponse;
import dev.lamina.containerd.types.Mount;
import dev.lamina.fstest.TreeAssert;
import dev.lamina.fstest.TreeSnapshot;
import io.grpc.Status;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real containerd (Debian's 1.6) with lamina as its proxy snapshotter, driven with {@code ctr}
 * and checked against lamina's own metadata through lamina's gRPC Snapshots API.
 *
 * <p>One fixture for the class, made on first use: a local {@code docker-registry} with a
 * busybox image built by umoci (layers with whiteouts, one hand-made opaque layer), and a {@link
 * ContainerdHarness} (lamina serve + containerd). {@link #sigtermWhileIdleExitsZeroAndRemovesSocket}
 * starts a lamina of its own.
 *
 * <p>Beyond the cases: a 130-layer image (lowerdir lists longer than a page), the same
 * image in containerd's own overlayfs snapshotter as a differential oracle for chain, kinds and
 * usage, and containerd reconnecting after lamina is SIGKILLed and restarted.
 *
 * <p>containerd keys reach lamina namespaced ({@code default/<n>/<key>}); containerd unpacks
 * layers with its own differ (containerd 1.6 has no diff proxy plugins), so lamina's Diff API is
 * not exercised here.
 */
class ContainerdProxySnapshotterTest {
  private static final long MIB = 1024 * 1024;
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir static Path tmp;

  private static DockerRegistry registry;
  private static ContainerdHarness harness;
  private static ContainerdTestImages.Built image;
  private static String ref;
  private static boolean pulled;
  /** Why the fixture could not be made, so later tests fail fast instead of half-building it again. */
  private static Throwable fixtureFailure;

  @BeforeAll
  static void prerequisites() throws IOException {
    ContainerdHarness.assumeUsable(tmp.resolve("probe"));
  }

  @AfterAll
  static void tearDown() throws IOException {
    try {
      if (harness != null) {
        harness.close();
      }
    } finally {
      if (registry != null) {
        registry.close();
      }
    }
  }

  /** Registry, image and containerd+lamina, made once for the class. */
  private static synchronized ContainerdHarness fixture() throws Exception {
    Umoci.assumeInstalled();
    Assumptions.assumeTrue(DockerRegistry.installed(), DockerRegistry.MISSING);
    Assumptions.assumeTrue(ContainerdTestImages.busyboxIsStatic(),
        ContainerdTestImages.BUSYBOX + " is missing or not static (apt-get install busybox-static)");
    if (fixtureFailure != null) {
      throw new IllegalStateException("the fixture failed in an earlier test", fixtureFailure);
    }
    if (harness == null) {
      try {
        image = ContainerdTestImages.busybox(tmp.resolve("image"), "1");
        registry = DockerRegistry.start(tmp.resolve("registry"));
        ref = registry.push(image.layout(), image.tag(), "test/img");
        harness = ContainerdHarness.start(tmp.resolve("h"));
      } catch (Exception | Error e) {
        fixtureFailure = e;
        throw e;
      }
    }
    return harness;
  }

  /** The fixture with the image pulled into lamina (once). */
  private static synchronized ContainerdHarness pulled() throws Exception {
    ContainerdHarness h = fixture();
    if (!pulled) {
      h.ctr(Duration.ofMinutes(5), "images", "pull", "--plain-http", "--snapshotter", ContainerdHarness.SNAPSHOTTER,
          ref).check();
      pulled = true;
    }
    return h;
  }

  // ------------------------------------------------------------------ pull

  @Test
  void pullUnpacksIntoLaminaAsChainIdsAndTheTopViewEqualsUmociUnpack() throws Exception {
    ContainerdHarness h = pulled();
    List<String> chain = image.chainIds();
    assertThat(chain).hasSize(4);

    Map<String, Info> byKey = laminaByContainerdKey(h);
    for (int i = 0; i < chain.size(); i++) {
      Info info = byKey.get(chain.get(i));
      assertThat(info).as("lamina snapshot for chain ID %s (layer %d); lamina has %s", chain.get(i), i,
          byKey.keySet()).isNotNull();
      assertThat(info.getKind()).as("kind of %s", chain.get(i)).isEqualTo(Kind.COMMITTED);
      String parent = i == 0 ? "" : chain.get(i - 1);
      assertThat(ContainerdHarness.containerdKey(info.getParent(), ContainerdHarness.NAMESPACE).orElse(info.getParent()))
          .as("parent of %s", chain.get(i)).isEqualTo(parent);
    }
    assertThat(byKey.values()).as("no active snapshot left over from the unpack")
        .noneMatch(i -> i.getKind() == Kind.ACTIVE && i.getName().contains("extract-"));

    Map<String, Row> listed = parseLs(h.snapshots("ls").check().stdout());
    for (String c : chain) {
      assertThat(listed).as("ctr snapshots ls").containsKey(c);
      assertThat(listed.get(c).kind()).isEqualTo("Committed");
    }

    // lamina's View of the top chain ID, mounted the way containerd would mount it
    String top = h.laminaName(chain.get(chain.size() - 1));
    List<Mount> mounts = h.client().view("e2e/pull-view", top);
    Path target = Files.createDirectories(tmp.resolve("pull-view"));
    try {
      ContainerdHarness.mount(mounts, target);
      try {
        TreeAssert.assertSnapshotsEqual(ContainerdTestImages.snapshot(image.oracle()),
            ContainerdTestImages.snapshot(target));
      } finally {
        Commands.run("umount", target.toString()).check();
      }
    } finally {
      h.client().remove("e2e/pull-view");
    }

    // the same through containerd: a view made with containerd's Snapshots API (with a gc.root
    // label, or containerd's garbage collector may take it), mounted with the command ctr prints
    h.containerdClient().view("pull-view-ctr", chain.get(chain.size() - 1), ContainerdHarness.gcRoot());
    Path target2 = Files.createDirectories(tmp.resolve("pull-view-ctr"));
    try {
      String mountCommand = h.snapshots("mounts", target2.toString(), "pull-view-ctr").check().stdout().strip();
      assertThat(mountCommand).startsWith("mount ");
      Commands.run("sh", "-c", mountCommand).check();
      try {
        TreeAssert.assertSnapshotsEqual(ContainerdTestImages.snapshot(image.oracle()),
            ContainerdTestImages.snapshot(target2));
      } finally {
        Commands.run("umount", target2.toString()).check();
      }
    } finally {
      h.snapshots("rm", "pull-view-ctr").check();
    }
    assertThat(h.awaitGone("pull-view-ctr", Duration.ofSeconds(30)))
        .as("containerd removes the view from lamina after ctr snapshots rm").isTrue();
  }

  // ------------------------------------------------------------------ containers

  @Test
  void containerWritesGrowTheActiveSnapshotAndContainerRemovalRemovesIt() throws Exception {
    ContainerdHarness h = pulled();
    String id = "ctr-test-1";
    String topChain = image.chainIds().get(image.chainIds().size() - 1);
    h.ctr("run", "-d", "--snapshotter", ContainerdHarness.SNAPSHOTTER, ref, id, "/bin/sleep", "600").check();
    try {
      String name = h.laminaName(id);
      Info info = h.client().stat(name);
      assertThat(info.getKind()).isEqualTo(Kind.ACTIVE);
      assertThat(info.getParent()).isEqualTo(h.laminaName(topChain));
      UsageResponse before = h.client().usage(name);
      assertThat(ctrUsage(h).get(id)).as("ctr snapshots usage of %s", id).isEqualTo(usage(before));

      Commands.Result dd = h.ctr("tasks", "exec", "--exec-id", "write-8m", id, "/bin/sh", "-c",
          "dd if=/dev/zero of=/data bs=1M count=8 && sync && cat /etc/hostname /opq/new1 && ls /opq");
      dd.check();
      assertThat(dd.stdout()).as("what the container sees of the image")
          .isEqualTo("back again\nnew1\nafter\nnew1\n");

      UsageResponse after = h.client().usage(name);
      assertThat(after.getSize() - before.getSize()).as("growth of %s's usage: %s -> %s", id, before, after)
          .isGreaterThanOrEqualTo(8 * MIB);
      assertThat(after.getInodes()).isGreaterThan(before.getInodes());
      assertThat(ctrUsage(h).get(id)).as("ctr snapshots usage of %s", id).isEqualTo(usage(after));
    } finally {
      h.ctr("tasks", "delete", "--force", id);
    }
    h.ctr("containers", "rm", id).check();
    assertThat(h.awaitGone(id, Duration.ofSeconds(30)))
        .as("lamina still has the active snapshot of removed container %s: %s", id, h.laminaInfo(id)).isTrue();
    assertThat(ContainerdHarness.mountsUnder(h.dir())).as("mounts left under the harness").isEmpty();
  }

  /** The command, {@code ctr run} in the foreground without --rm, then the usage it left. */
  @Test
  void foregroundRunLeavesItsWritesInTheActiveSnapshot() throws Exception {
    ContainerdHarness h = pulled();
    String fresh = "ctr-test-2-fresh";
    String id = "ctr-test-2";
    h.ctr("containers", "create", "--snapshotter", ContainerdHarness.SNAPSHOTTER, ref, fresh, "/bin/true").check();
    h.ctr("run", "--snapshotter", ContainerdHarness.SNAPSHOTTER, ref, id, "/bin/sh", "-c",
        "dd if=/dev/zero of=/data bs=1M count=8; sync").check();
    try {
      UsageResponse baseline = h.client().usage(h.laminaName(fresh));
      UsageResponse used = h.client().usage(h.laminaName(id));
      assertThat(used.getSize() - baseline.getSize()).as("usage %s vs a fresh snapshot's %s", used, baseline)
          .isGreaterThanOrEqualTo(8 * MIB);
      assertThat(ctrUsage(h).get(id)).isEqualTo(usage(used));
    } finally {
      h.ctr("tasks", "delete", "--force", id);
      h.ctr("containers", "rm", id, fresh).check();
    }
    assertThat(h.awaitGone(id, Duration.ofSeconds(30))).as("%s removed", id).isTrue();
    assertThat(h.awaitGone(fresh, Duration.ofSeconds(30))).as("%s removed", fresh).isTrue();
  }

  /**
   * A 130-layer image: lamina's mounts for its top snapshots list more lowerdirs than fit in one
   * page of mount options, which containerd's mount code has to shorten (it mounts from the common
   * parent with relative lowerdirs). Pull, run, and check what the container sees.
   */
  @Test
  void containerRunsOnAChainDeeperThanOnePageOfLowerdirs() throws Exception {
    ContainerdHarness h = fixture();
    int depth = 130;
    ContainerdTestImages.Built deep = ContainerdTestImages.deep(tmp.resolve("deep-image"), "deep", depth);
    String deepRef = registry.push(deep.layout(), deep.tag(), "test/deep");
    h.ctr(Duration.ofMinutes(10), "images", "pull", "--plain-http", "--snapshotter", ContainerdHarness.SNAPSHOTTER,
        deepRef).check();
    List<String> chain = deep.chainIds();
    assertThat(chain).hasSize(depth);
    Map<String, Info> byKey = laminaByContainerdKey(h);
    assertThat(byKey.keySet()).containsAll(chain);

    List<Mount> mounts = h.client().view("e2e/deep-view", h.laminaName(chain.get(depth - 1)));
    try {
      assertThat(mounts).hasSize(1);
      String lower = mounts.get(0).getOptionsList().stream().filter(o -> o.startsWith("lowerdir="))
          .findFirst().orElseThrow();
      assertThat(lower.split(":")).hasSize(depth);
      assertThat(String.join(",", mounts.get(0).getOptionsList()).length()).as("mount options of the deep view")
          .isGreaterThan(4096);
    } finally {
      h.client().remove("e2e/deep-view");
    }

    String id = "ctr-deep-1";
    Commands.Result r = h.ctr(Duration.ofMinutes(2), "run", "--rm", "--snapshotter", ContainerdHarness.SNAPSHOTTER,
        deepRef, id, "/bin/sh", "-c", "ls /layers | wc -l; cat /layers/001 /layers/128; test -e /layers/005 || echo gone");
    try {
      r.check();
      assertThat(r.stdout().lines().map(String::strip).toList()).isEqualTo(List.of(
          Integer.toString(depth - 3), "1", "128", "gone"));
    } finally {
      h.ctr("tasks", "delete", "--force", id);
      h.ctr("containers", "rm", id);
    }
    assertThat(h.awaitGone(id, Duration.ofSeconds(30))).as("%s removed", id).isTrue();
  }

  // ------------------------------------------------------------------ ctr snapshots vs lamina

  @Test
  void ctrSnapshotsCommandsAgreeWithLaminaMetadata() throws Exception {
    ContainerdHarness h = pulled();
    List<String> chain = image.chainIds();
    String top = chain.get(chain.size() - 1);
    String bottom = chain.get(0);
    h.snapshots("prepare", "agree-active", top).check();
    h.snapshots("prepare", "agree-tocommit", top).check();
    h.snapshots("commit", "agree-committed", "agree-tocommit").check();
    // (ctr snapshots view sets no gc.root label: containerd's next garbage collection would take it)
    h.containerdClient().view("agree-view", "agree-committed", ContainerdHarness.gcRoot());
    h.snapshots("label", "agree-committed", "containerd.io/snapshot/e2e=yes", "e2e.local=containerd-only").check();
    try {
      // ls: every containerd key, its parent and kind, as lamina has them
      Map<String, Row> listed = parseLs(h.snapshots("ls").check().stdout());
      Map<String, Row> lamina = new TreeMap<>();
      laminaByContainerdKey(h).forEach((key, info) -> lamina.put(key, new Row(
          ContainerdHarness.containerdKey(info.getParent(), ContainerdHarness.NAMESPACE).orElse(info.getParent()),
          kindWord(info.getKind()))));
      assertThat(listed).as("ctr snapshots ls vs lamina's List; only in ctr: %s; only in lamina: %s",
          minus(listed, lamina), minus(lamina, listed)).isEqualTo(lamina);
      assertThat(listed).containsKeys("agree-active", "agree-committed", "agree-view", top, bottom);

      // info: kind and parent from lamina; lamina's labels are among containerd's
      for (String key : listed.keySet()) {
        JsonNode ctrInfo = JSON.readTree(h.snapshots("info", key).check().stdout());
        Info info = h.client().stat(h.laminaName(key));
        assertThat(ctrInfo.path("Name").asText()).isEqualTo(key);
        assertThat(ctrInfo.path("Kind").asText()).as("kind of %s", key).isEqualTo(kindWord(info.getKind()));
        assertThat(ctrInfo.path("Parent").asText("")).as("parent of %s", key)
            .isEqualTo(lamina.get(key).parent());
        Map<String, String> ctrLabels = new TreeMap<>();
        ctrInfo.path("Labels").fields().forEachRemaining(e -> ctrLabels.put(e.getKey(), e.getValue().asText()));
        assertThat(ctrLabels).as("labels of %s", key).containsAllEntriesOf(info.getLabelsMap());
      }
      Info labelled = h.client().stat(h.laminaName("agree-committed"));
      assertThat(labelled.getLabelsMap()).as("containerd passes containerd.io/snapshot/ labels to the proxy")
          .containsEntry("containerd.io/snapshot/e2e", "yes")
          .doesNotContainKey("e2e.local");

      // usage: what ctr prints is lamina's Usage
      Map<String, List<Long>> ctrUsage = ctrUsage(h);
      assertThat(ctrUsage.keySet()).isEqualTo(listed.keySet());
      for (String key : listed.keySet()) {
        assertThat(ctrUsage.get(key)).as("usage of %s", key).isEqualTo(usage(h.client().usage(h.laminaName(key))));
      }
      assertThat(ctrUsage.get(bottom).get(0)).as("bottom layer holds busybox").isGreaterThan(500_000L);

      // rm of a snapshot with children: containerd refuses it with its own message
      Commands.Result rm = h.snapshots("rm", bottom);
      assertThat(rm.ok()).as("ctr snapshots rm %s (has children)", bottom).isFalse();
      assertThat(rm.stderr()).contains("cannot remove snapshot with child").contains("failed precondition");
      assertThat(h.laminaInfo(bottom)).as("lamina still has %s", bottom).isPresent();
      Commands.Result rmParentOfView = h.snapshots("rm", "agree-committed");
      assertThat(rmParentOfView.ok()).isFalse();
      assertThat(rmParentOfView.stderr()).contains("failed precondition");
    } finally {
      h.snapshots("rm", "agree-view");
      h.snapshots("rm", "agree-active", "agree-committed");
    }
    for (String key : List.of("agree-view", "agree-active", "agree-committed")) {
      assertThat(h.awaitGone(key, Duration.ofSeconds(30))).as("%s removed from lamina", key).isTrue();
    }
  }

  /**
   * Differential check against containerd's own overlayfs snapshotter: the same image pulled into
   * both (containerd applies the layers itself in both cases, into the upper dirs each returns)
   * gives the same chain, kinds and per-layer usage.
   */
  @Test
  void sameImageInContainerdsOverlayfsHasTheSameChainAndUsage() throws Exception {
    ContainerdHarness h = pulled();
    h.ctr(Duration.ofMinutes(5), "images", "pull", "--plain-http", "--snapshotter", "overlayfs", ref).check();
    List<String> chain = image.chainIds();
    Map<String, Row> overlayfs = parseLs(h.ctr("snapshots", "--snapshotter", "overlayfs", "ls").check().stdout());
    Map<String, Row> lamina = parseLs(h.snapshots("ls").check().stdout());
    Map<String, List<Long>> overlayfsUsage = new TreeMap<>();
    for (List<String> r : table(h.ctr("snapshots", "--snapshotter", "overlayfs", "usage", "-b").check().stdout(),
        "KEY", "SIZE", "INODES")) {
      overlayfsUsage.put(r.get(0), List.of(Long.parseLong(r.get(1)), Long.parseLong(r.get(2))));
    }
    Map<String, List<Long>> laminaUsage = ctrUsage(h);
    for (String c : chain) {
      assertThat(lamina.get(c)).as("ls row of %s: lamina vs overlayfs", c).isEqualTo(overlayfs.get(c));
      assertThat(laminaUsage.get(c)).as("usage [size, inodes] of %s: lamina vs overlayfs", c)
          .isEqualTo(overlayfsUsage.get(c));
    }
    // a view and an active snapshot on the top layer, in both
    String top = chain.get(chain.size() - 1);
    for (String sn : List.of("overlayfs", ContainerdHarness.SNAPSHOTTER)) {
      h.ctr("snapshots", "--snapshotter", sn, "prepare", "diff-active", top).check();
      try (ContainerdSnapshotsClient c = ContainerdSnapshotsClient.containerd(h.containerdSocket(),
          ContainerdHarness.NAMESPACE, sn)) {
        c.view("diff-view", top, ContainerdHarness.gcRoot());
      }
    }
    try {
      Map<String, List<Long>> o = new TreeMap<>();
      for (List<String> r : table(h.ctr("snapshots", "--snapshotter", "overlayfs", "usage", "-b", "diff-active",
          "diff-view").check().stdout(), "KEY", "SIZE", "INODES")) {
        o.put(r.get(0), List.of(Long.parseLong(r.get(1)), Long.parseLong(r.get(2))));
      }
      Map<String, List<Long>> l = new TreeMap<>();
      for (List<String> r : table(h.snapshots("usage", "-b", "diff-active", "diff-view").check().stdout(),
          "KEY", "SIZE", "INODES")) {
        l.put(r.get(0), List.of(Long.parseLong(r.get(1)), Long.parseLong(r.get(2))));
      }
      assertThat(l).as("usage of a fresh active snapshot and a view: lamina vs overlayfs").isEqualTo(o);
      for (String key : List.of("diff-active", "diff-view")) {
        JsonNode oi = JSON.readTree(h.ctr("snapshots", "--snapshotter", "overlayfs", "info", key).check().stdout());
        JsonNode li = JSON.readTree(h.snapshots("info", key).check().stdout());
        assertThat(li.path("Kind").asText()).as("kind of %s", key).isEqualTo(oi.path("Kind").asText());
        assertThat(li.path("Parent").asText()).as("parent of %s", key).isEqualTo(oi.path("Parent").asText());
      }
    } finally {
      for (String sn : List.of("overlayfs", ContainerdHarness.SNAPSHOTTER)) {
        h.ctr("snapshots", "--snapshotter", sn, "rm", "diff-active", "diff-view");
      }
    }
  }

  /**
   * lamina killed (SIGKILL) and started again on the same root and socket while containerd runs:
   * the stale socket is replaced, containerd reconnects, the metadata is all there and a
   * container runs.
   */
  @Test
  void containerdReconnectsAfterLaminaIsKilledAndRestarted() throws Exception {
    ContainerdHarness h = pulled();
    String before = h.snapshots("ls").check().stdout();
    List<Info> laminaBefore = h.client().list();
    h.restartLamina(true);
    Commands.Result ls = null;
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (System.nanoTime() < deadline) {
      ls = h.snapshots("ls");
      if (ls.ok()) {
        break;
      }
      ContainerdLaminaProcess.sleep(250);
    }
    assertThat(ls).isNotNull();
    assertThat(ls.ok()).as("ctr snapshots ls after the restart: %s", ls.stderr()).isTrue();
    assertThat(ls.stdout()).isEqualTo(before);
    assertThat(h.client().list()).as("lamina's metadata after the restart").isEqualTo(laminaBefore);

    String id = "ctr-after-restart";
    Commands.Result r = h.ctr("run", "--rm", "--snapshotter", ContainerdHarness.SNAPSHOTTER, ref, id,
        "/bin/cat", "/etc/hostname");
    try {
      r.check();
      assertThat(r.stdout()).isEqualTo("back again\n");
    } finally {
      h.ctr("tasks", "delete", "--force", id);
      h.ctr("containers", "rm", id);
    }
    assertThat(h.awaitGone(id, Duration.ofSeconds(30))).as("%s removed", id).isTrue();
  }

  // ------------------------------------------------------------------ bad input

  @Test
  void badInputFailsWithContainerdCodesAndChangesNothingOnDisk() throws Exception {
    ContainerdHarness h = pulled();
    ContainerdSnapshotsClient c = h.client();
    List<String> chain = image.chainIds();
    String top = h.laminaName(chain.get(chain.size() - 1));
    String bottom = h.laminaName(chain.get(0));
    String existing = "e2e/bad-existing";
    c.prepare(existing, top);
    try {
      awaitQuiet(h);
      SortedMap<String, TreeSnapshot.Entry> before = rootTree(h);
      List<Info> listBefore = c.list();

      Map<String, Status.Code> got = new LinkedHashMap<>();
      got.put("prepare, unknown parent", ContainerdSnapshotsClient.codeOf(() -> c.prepare("e2e/bad-1", "no-such-parent")));
      got.put("view, unknown parent", ContainerdSnapshotsClient.codeOf(() -> c.view("e2e/bad-2", "no-such-parent")));
      got.put("prepare, duplicate active key", ContainerdSnapshotsClient.codeOf(() -> c.prepare(existing, top)));
      got.put("view, key of a committed snapshot", ContainerdSnapshotsClient.codeOf(() -> c.view(top, bottom)));
      got.put("prepare, active parent", ContainerdSnapshotsClient.codeOf(() -> c.prepare("e2e/bad-3", existing)));
      got.put("commit, name taken", ContainerdSnapshotsClient.codeOf(() -> c.commit(top, existing)));
      got.put("commit, unknown key", ContainerdSnapshotsClient.codeOf(() -> c.commit("e2e/bad-4", "e2e/no-such")));
      got.put("commit, committed key", ContainerdSnapshotsClient.codeOf(() -> c.commit("e2e/bad-5", top)));
      got.put("remove, has children", ContainerdSnapshotsClient.codeOf(() -> c.remove(bottom)));
      got.put("remove, unknown", ContainerdSnapshotsClient.codeOf(() -> c.remove("e2e/no-such")));
      got.put("stat, unknown", ContainerdSnapshotsClient.codeOf(() -> c.stat("e2e/no-such")));
      got.put("mounts, unknown", ContainerdSnapshotsClient.codeOf(() -> c.mounts("e2e/no-such")));
      got.put("mounts, committed", ContainerdSnapshotsClient.codeOf(() -> c.mounts(top)));
      got.put("usage, unknown", ContainerdSnapshotsClient.codeOf(() -> c.usage("e2e/no-such")));
      got.put("prepare, empty key", ContainerdSnapshotsClient.codeOf(() -> c.prepare("", top)));

      Map<String, Status.Code> want = new LinkedHashMap<>();
      want.put("prepare, unknown parent", Status.Code.NOT_FOUND);
      want.put("view, unknown parent", Status.Code.NOT_FOUND);
      want.put("prepare, duplicate active key", Status.Code.ALREADY_EXISTS);
      want.put("view, key of a committed snapshot", Status.Code.ALREADY_EXISTS);
      want.put("prepare, active parent", Status.Code.INVALID_ARGUMENT); // containerd: "parent is not committed snapshot"
      want.put("commit, name taken", Status.Code.ALREADY_EXISTS);
      want.put("commit, unknown key", Status.Code.NOT_FOUND);
      want.put("commit, committed key", Status.Code.FAILED_PRECONDITION); // containerd: "is not active"
      want.put("remove, has children", Status.Code.FAILED_PRECONDITION);
      want.put("remove, unknown", Status.Code.NOT_FOUND);
      want.put("stat, unknown", Status.Code.NOT_FOUND);
      want.put("mounts, unknown", Status.Code.NOT_FOUND);
      // containerd's storage.GetSnapshot: "requested snapshot ... not active or view: failed precondition"
      want.put("mounts, committed", Status.Code.FAILED_PRECONDITION);
      want.put("usage, unknown", Status.Code.NOT_FOUND);
      want.put("prepare, empty key", Status.Code.INVALID_ARGUMENT);

      // the same mistakes through containerd (which checks most of them in its own metadata first)
      Commands.Result unknownParent = h.snapshots("prepare", "bad-ctr-1", "no-such-parent");
      Commands.Result duplicate = h.snapshots("prepare", chain.get(chain.size() - 1), chain.get(0));
      Commands.Result withChildren = h.snapshots("rm", chain.get(0));

      assertThat(got).as("gRPC status codes from lamina").isEqualTo(want);
      assertThat(unknownParent.ok()).isFalse();
      assertThat(unknownParent.stderr()).contains("not found");
      assertThat(duplicate.ok()).isFalse();
      assertThat(duplicate.stderr()).contains("already exists");
      assertThat(withChildren.ok()).isFalse();
      assertThat(withChildren.stderr()).contains("failed precondition");

      assertThat(c.list()).as("lamina's metadata after the failed calls").isEqualTo(listBefore);
      SortedMap<String, TreeSnapshot.Entry> after = rootTree(h);
      assertThat(differences(before, after)).as("changes under lamina's root %s", h.laminaRoot()).isEmpty();
    } finally {
      c.remove(existing);
    }
  }

  // ------------------------------------------------------------------ shutdown

  @Test
  void sigtermWhileIdleExitsZeroAndRemovesSocket() throws Exception {
    Path d = Files.createDirectories(tmp.resolve("sigterm"));
    Path socket = d.resolve("lamina.sock");
    ContainerdLaminaProcess lamina = ContainerdLaminaProcess.start(d.resolve("root"), socket, "overlay",
        d.resolve("lamina.log"));
    try (ContainerdSnapshotsClient c = ContainerdSnapshotsClient.lamina(socket)) {
      // one call, then an idle open connection, as containerd's proxy plugin keeps one
      c.prepare("idle-active", "");
      assertThat(c.list()).hasSize(1);
      long t0 = System.nanoTime();
      lamina.process().destroy(); // SIGTERM
      boolean exited = lamina.process().waitFor(10, TimeUnit.SECONDS);
      long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
      assertThat(exited).as("lamina exited within 10 s of SIGTERM; log:\n%s", lamina.logText()).isTrue();
      assertThat(millis).as("milliseconds from SIGTERM to exit").isLessThan(5000);
      assertThat(Files.exists(socket)).as("socket %s removed", socket).isFalse();
      assertThat(lamina.process().exitValue())
          .as("exit status %d ms after SIGTERM while idle; log:\n%s", millis, lamina.logText()).isZero();
    } finally {
      lamina.close();
    }
  }

  // ------------------------------------------------------------------ helpers

  private static <K, V> Map<K, V> minus(Map<K, V> a, Map<K, V> b) {
    Map<K, V> out = new TreeMap<>();
    a.forEach((k, v) -> {
      if (!v.equals(b.get(k))) {
        out.put(k, v);
      }
    });
    return out;
  }

  /** One row of {@code ctr snapshots ls}. */
  record Row(String parent, String kind) {}

  private static Map<String, Info> laminaByContainerdKey(ContainerdHarness h) {
    Map<String, Info> out = new TreeMap<>();
    for (Info i : h.client().list()) {
      ContainerdHarness.containerdKey(i.getName(), ContainerdHarness.NAMESPACE).ifPresent(k -> out.put(k, i));
    }
    return out;
  }

  private static String kindWord(Kind k) {
    return switch (k) {
      case ACTIVE -> "Active";
      case VIEW -> "View";
      case COMMITTED -> "Committed";
      default -> k.name();
    };
  }

  /** {@code ctr snapshots ls}: a tabwriter table KEY PARENT KIND; columns start where the header's do. */
  static Map<String, Row> parseLs(String out) {
    Map<String, Row> rows = new TreeMap<>();
    List<List<String>> table = table(out, "KEY", "PARENT", "KIND");
    for (List<String> r : table) {
      rows.put(r.get(0), new Row(r.get(1), r.get(2)));
    }
    return rows;
  }

  /** {@code ctr snapshots usage -b}: key to [size, inodes]. */
  private static Map<String, List<Long>> ctrUsage(ContainerdHarness h) throws IOException {
    Map<String, List<Long>> out = new TreeMap<>();
    for (List<String> r : table(h.snapshots("usage", "-b").check().stdout(), "KEY", "SIZE", "INODES")) {
      out.put(r.get(0), List.of(Long.parseLong(r.get(1)), Long.parseLong(r.get(2))));
    }
    return out;
  }

  private static List<Long> usage(UsageResponse u) {
    return List.of(u.getSize(), u.getInodes());
  }

  /** Splits a tabwriter table at the columns its header starts. */
  static List<List<String>> table(String out, String... columns) {
    Iterator<String> lines = out.lines().iterator();
    if (!lines.hasNext()) {
      throw new AssertionError("no header in: " + out);
    }
    String header = lines.next();
    int[] starts = new int[columns.length];
    for (int i = 0; i < columns.length; i++) {
      starts[i] = header.indexOf(columns[i], i == 0 ? 0 : starts[i - 1] + 1);
      if (starts[i] < 0) {
        throw new AssertionError("no column " + columns[i] + " in header: " + header);
      }
    }
    List<List<String>> rows = new ArrayList<>();
    while (lines.hasNext()) {
      String line = lines.next();
      if (line.isBlank()) {
        continue;
      }
      List<String> cells = new ArrayList<>();
      for (int i = 0; i < columns.length; i++) {
        int from = Math.min(starts[i], line.length());
        int to = i + 1 < columns.length ? Math.min(starts[i + 1], line.length()) : line.length();
        cells.add(line.substring(from, to).strip());
      }
      rows.add(cells);
    }
    return rows;
  }

  /**
   * Everything under lamina's root with mtimes, less SQLite's shared-memory index files
   * ({@code *-shm}), which readers write to.
   */
  private static SortedMap<String, TreeSnapshot.Entry> rootTree(ContainerdHarness h) throws IOException {
    TreeSnapshot s = TreeSnapshot.of(h.laminaRoot(), TreeSnapshot.Options.DEFAULT.withMtimes().includingRoot());
    SortedMap<String, TreeSnapshot.Entry> out = new TreeMap<>(s.entries());
    out.keySet().removeIf(p -> p.endsWith("-shm"));
    return out;
  }

  private static List<String> differences(SortedMap<String, TreeSnapshot.Entry> a,
      SortedMap<String, TreeSnapshot.Entry> b) {
    List<String> out = new ArrayList<>();
    for (String p : a.keySet()) {
      if (!b.containsKey(p)) {
        out.add("gone: " + p);
      } else if (!a.get(p).equals(b.get(p))) {
        out.add("changed: " + p + ": " + a.get(p) + " -> " + b.get(p));
      }
    }
    for (String p : b.keySet()) {
      if (!a.containsKey(p)) {
        out.add("new: " + p + " " + b.get(p));
      }
    }
    return out;
  }

  /**
   * Waits until lamina's metadata stops changing (containerd's garbage collector may still be
   * removing what earlier tests dropped).
   */
  private static void awaitQuiet(ContainerdHarness h) {
    List<Info> last = h.client().list();
    for (int i = 0; i < 50; i++) {
      ContainerdLaminaProcess.sleep(200);
      List<Info> now = h.client().list();
      if (now.equals(last)) {
        return;
      }
      last = now;
    }
  }
}
