package dev.lamina.snapshots;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.fs.DiskUsage;
import dev.lamina.fstest.FsOp;
import dev.lamina.fstest.FsTree;
import dev.lamina.fstest.Root;
import dev.lamina.fstest.TreeAssert;
import dev.lamina.fstest.TreeSnapshot;
import dev.lamina.mount.Mount;
import dev.lamina.mount.TempMounts;
import dev.lamina.posix.Posix;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * One test suite every {@link Snapshotter} passes, modelled on containerd's
 * {@code core/snapshots/testsuite}. Files are written and checked through real mounts
 * ({@link TempMounts}); where the run cannot mount (no root), a single bind mount is used through
 * its source directory instead, which is what the bind would show ({@link #withMounted}).
 */
public abstract class SnapshotterConformanceTest {
  protected static final Map<String, String> GC_ROOT = Map.of("containerd.io/gc.root", "2024-01-01T00:00:00Z");

  @TempDir protected Path tmp;
  protected Path root;
  protected Path work;
  protected Snapshotter sn;

  /** A fresh snapshotter on {@code root} (which may already hold one's data: reopen). */
  protected abstract Snapshotter create(Path root) throws IOException;

  /** The directory of a snapshot, {@code <root>/snapshots/<id>}, for on-disk checks. */
  protected abstract Path directoryOf(Snapshotter sn, String key) throws IOException;

  /** Whether returned mounts can really be mounted in this run. */
  protected boolean canMount() {
    return Root.isRoot();
  }

  /** containerd's "rebase" capability: commit with a parent of a snapshot prepared without one. */
  protected boolean supportsRebase() {
    return true;
  }

  /** Overlayfs cannot rename a lower directory (EXDEV without redirect_dir); containerd skips it too. */
  protected boolean supportsDirectoryRename() {
    return true;
  }

  /** A copying snapshotter's active snapshot holds its parents' files too. */
  protected boolean usageIncludesParents() {
    return false;
  }

  @BeforeEach
  void openSnapshotter() throws IOException {
    root = tmp.resolve("root");
    work = Files.createDirectories(tmp.resolve("work"));
    sn = create(root);
  }

  @AfterEach
  void closeSnapshotter() throws IOException {
    if (sn != null) {
      sn.close();
    }
  }

  // -----------------------------------------------------------------------------------------------
  // helpers

  /**
   * Runs {@code fn} on the mounted {@code mounts}: really mounted when {@link #canMount()}, else
   * the source of a single bind mount.
   */
  protected <T> T withMounted(List<Mount> mounts, TempMounts.MountedFunction<T> fn) throws IOException {
    if (canMount()) {
      return TempMounts.withTempMount(work, mounts, fn);
    }
    if (mounts.size() == 1 && mounts.get(0).type().equals("bind")) {
      return fn.apply(Path.of(mounts.get(0).source()));
    }
    Assumptions.abort("cannot mount " + mounts + " without root");
    return null;
  }

  /** A change to a tree. */
  @FunctionalInterface
  protected interface Change {
    void apply(Path root) throws IOException;
  }

  protected static Change ops(FsOp... ops) {
    return r -> FsTree.apply(r, ops);
  }

  protected static Change rename(String from, String to) {
    return r -> Files.move(r.resolve(from), r.resolve(to), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
  }

  protected static Change all(Change... changes) {
    return r -> {
      for (Change c : changes) {
        c.apply(r);
      }
    };
  }

  protected void applyTo(String key, Change change) throws IOException {
    withMounted(sn.mounts(key), r -> {
      change.apply(r);
      return null;
    });
  }

  protected TreeSnapshot treeOf(List<Mount> mounts) throws IOException {
    return withMounted(mounts, TreeSnapshot::of);
  }

  protected void assertMountedEquals(Path expected, List<Mount> mounts) throws IOException {
    TreeAssert.assertSnapshotsEqual(TreeSnapshot.of(expected), treeOf(mounts));
  }

  private int counter;

  /** containerd's createSnapshot: prepare on parent, apply through the mount, commit. */
  protected String createSnapshot(String parent, Change change) throws IOException {
    String name = "layer-" + (++counter);
    String key = name + "-prepare";
    sn.prepare(key, parent, GC_ROOT);
    applyTo(key, change);
    sn.commit(name, key, "", GC_ROOT);
    return name;
  }

  /** containerd's checkSnapshots: each layer on the previous, each checked through a view. */
  protected void checkSnapshots(Change... layers) throws IOException {
    Path flat = Files.createDirectory(work.resolve("flat-" + (++counter)));
    String parent = "";
    for (Change layer : layers) {
      String name = createSnapshot(parent, layer);
      layer.apply(flat);
      String view = name + "-view";
      List<Mount> m = sn.view(view, name, GC_ROOT);
      assertMountedEquals(flat, m);
      sn.remove(view);
      parent = name;
    }
  }

  protected static void assertKind(ThrowingCall call, ErrorKind kind) {
    assertThatThrownBy(call::run)
        .isInstanceOf(LaminaException.class)
        .satisfies(e -> assertThat(((LaminaException) e).kind()).as(e.getMessage()).isEqualTo(kind));
  }

  @FunctionalInterface
  protected interface ThrowingCall {
    void run() throws Exception;
  }

  protected List<Info> walkAll(String... filters) throws IOException {
    List<Info> out = new ArrayList<>();
    sn.walk(out::add, List.of(filters));
    return out;
  }

  protected Set<String> names(String... filters) throws IOException {
    return walkAll(filters).stream().map(Info::name).collect(Collectors.toCollection(TreeSet::new));
  }

  /** Everything observable: the snapshots tree, the files in root, every info and usage. */
  protected record State(TreeSnapshot snapshots, List<String> rootNames, Map<String, Info> infos, Map<String, Usage> usages) {}

  protected State state() throws IOException {
    List<String> rootNames;
    try (Stream<Path> s = Files.list(root)) {
      rootNames = s.map(p -> p.getFileName().toString()).sorted().toList();
    }
    Map<String, Info> infos = new TreeMap<>();
    Map<String, Usage> usages = new TreeMap<>();
    for (Info i : walkAll()) {
      infos.put(i.name(), i);
      usages.put(i.name(), sn.usage(i.name()));
    }
    return new State(TreeSnapshot.of(root.resolve("snapshots")), rootNames, infos, usages);
  }

  /** The directories under snapshots/ are exactly those of the snapshots, and each exists. */
  protected void assertDirectoriesMatchMetadata() throws IOException {
    Set<Path> expected = new HashSet<>();
    for (Info i : walkAll()) {
      Path d = directoryOf(sn, i.name());
      assertThat(d).as("directory of " + i.name()).isDirectory();
      assertThat(d.resolve("fs")).as("fs of " + i.name()).isDirectory();
      expected.add(d);
    }
    try (Stream<Path> s = Files.list(root.resolve("snapshots"))) {
      assertThat(s.collect(Collectors.toSet())).containsExactlyInAnyOrderElementsOf(expected);
    }
  }

  // -----------------------------------------------------------------------------------------------
  // containerd's basic workflow

  @Test
  void basic() throws Exception {
    Change initial = ops(
        FsTree.file("foo", "foo\n", 0777),
        FsTree.dir("a", 0755),
        FsTree.dir("a/b", 0755),
        FsTree.dir("a/b/c", 0755));
    Change diff = ops(
        FsTree.file("bar", "bar\n", 0777),
        FsTree.file("foo", "bar\n", 0777),
        FsTree.remove("a/b"));

    List<Mount> mounts = sn.prepare("preparing", "", GC_ROOT);
    assertThat(mounts).isNotEmpty();
    applyTo("preparing", initial);
    sn.commit("committed", "preparing", "", GC_ROOT);

    Info si = sn.stat("committed");
    assertThat(si.parent()).isEmpty();
    assertThat(si.kind()).isEqualTo(Kind.COMMITTED);
    assertKind(() -> sn.stat("preparing"), ErrorKind.NOT_FOUND);

    Path expected = Files.createDirectory(work.resolve("expected"));
    initial.apply(expected);
    sn.prepare("nextlayer", "committed", GC_ROOT);
    assertMountedEquals(expected, sn.mounts("nextlayer"));
    applyTo("nextlayer", diff);
    diff.apply(expected);

    Info ni = sn.stat("nextlayer");
    assertThat(ni.parent()).isEqualTo("committed");
    assertThat(ni.kind()).isEqualTo(Kind.ACTIVE);

    sn.commit("committed-next", "nextlayer", "", GC_ROOT);
    Info si2 = sn.stat("committed-next");
    assertThat(si2.parent()).isEqualTo("committed");
    assertThat(si2.kind()).isEqualTo(Kind.COMMITTED);
    assertKind(() -> sn.stat("nextlayer"), ErrorKind.NOT_FOUND);

    Map<String, Info> walked = new HashMap<>();
    sn.walk(i -> walked.put(i.name(), i), List.of());
    assertThat(walked).containsEntry("committed", si).containsEntry("committed-next", si2).hasSize(2);

    List<Mount> view = sn.view("nextnextlayer", "committed-next", GC_ROOT);
    assertMountedEquals(expected, view);
    sn.remove("nextnextlayer");

    assertThatThrownBy(() -> sn.remove("committed")).hasMessageContaining("remove");
    sn.remove("committed-next");
    sn.remove("committed");
    assertThat(walkAll()).isEmpty();
    assertDirectoriesMatchMetadata();
  }

  @Test
  void statActiveAndCommitted() throws Exception {
    Instant before = Instant.now();
    sn.prepare("preparing", "", GC_ROOT);
    Info si = sn.stat("preparing");
    assertThat(si.name()).isEqualTo("preparing");
    assertThat(si.kind()).isEqualTo(Kind.ACTIVE);
    assertThat(si.parent()).isEmpty();
    assertThat(si.labels()).isEqualTo(GC_ROOT);
    assertThat(si.created()).isBetween(before, Instant.now());
    assertThat(si.updated()).isEqualTo(si.created());

    sn.commit("committed", "preparing", "", Map.of("x", "y"));
    Info ci = sn.stat("committed");
    assertThat(ci.kind()).isEqualTo(Kind.COMMITTED);
    assertThat(ci.parent()).isEmpty();
    assertThat(ci.labels()).as("commit replaces labels").isEqualTo(Map.of("x", "y"));
  }

  @Test
  void transitivity() throws Exception {
    String a = createSnapshot("", ops(FsTree.file("foo", "foo\n", 0777)));
    String b = createSnapshot(a, ops(FsTree.file("foo", "foo bar\n", 0777)));
    Info ia = sn.stat(a);
    Info ib = sn.stat(b);
    Info parentOfB = sn.stat(ib.parent());
    assertThat(ia.parent()).isEmpty();
    assertThat(ib.parent()).isEqualTo(a);
    assertThat(parentOfB.parent()).isEmpty();
  }

  @Test
  void sameKeyTwiceFails() throws Exception {
    String a = createSnapshot("", ops());
    sn.prepare("newlayer", a, GC_ROOT);
    assertKind(() -> sn.view("newlayer", a, GC_ROOT), ErrorKind.ALREADY_EXISTS);
    sn.prepare("prepLayer", a, GC_ROOT);
    assertKind(() -> sn.prepare("prepLayer", a, GC_ROOT), ErrorKind.ALREADY_EXISTS);
    sn.view("viewLayer", a, GC_ROOT);
    assertKind(() -> sn.view("viewLayer", a, GC_ROOT), ErrorKind.ALREADY_EXISTS);
    assertKind(() -> sn.prepare(a, "", GC_ROOT), ErrorKind.ALREADY_EXISTS);
    assertDirectoriesMatchMetadata();
  }

  // -----------------------------------------------------------------------------------------------
  // layers, checked through views (containerd's issues.go)

  @Test
  void deletedFilesInChildSnapshot() throws Exception {
    checkSnapshots(
        ops(FsTree.file("foo", "foo\n", 0777), FsTree.file("foobar", "foobar\n", 0777)),
        ops(FsTree.remove("foobar")),
        ops());
  }

  @Test
  void layerFileUpdate() throws Exception {
    checkSnapshots(
        ops(FsTree.dir("etc", 0700), FsTree.file("etc/hosts", "mydomain 10.0.0.1", 0644), FsTree.file("etc/profile", "PATH=/usr/bin", 0644)),
        ops(FsTree.file("etc/hosts", "mydomain 10.0.0.2", 0644), FsTree.file("etc/profile", "PATH=/usr/bin", 0666),
            FsTree.dir("root", 0700), FsTree.file("root/.bashrc", "PATH=/usr/sbin:/usr/bin", 0644)));
  }

  @Test
  void removeDirectoryInLowerLayer() throws Exception {
    checkSnapshots(
        ops(FsTree.dir("lib", 0700), FsTree.file("lib/hidden", "", 0644)),
        ops(FsTree.remove("lib"), FsTree.dir("lib", 0700), FsTree.file("lib/not-hidden", "", 0644)),
        ops(FsTree.file("lib/newfile", "", 0644)));
  }

  @Test
  void moveFileFromLowerLayer() throws Exception {
    checkSnapshots(
        ops(FsTree.dir("dir1", 0700), FsTree.file("dir1/f1", "Hello", 0644), FsTree.dir("dir2", 0700), FsTree.file("dir2/f2", "...", 0644)),
        ops(FsTree.dir("dir3", 0700), FsTree.file("dir3/f1", "Hello", 0644), FsTree.remove("dir1"),
            FsTree.link("dir3/f2", "dir2/f2"), FsTree.remove("dir2/f2")));
  }

  @Test
  void renames() throws Exception {
    List<Change> second = new ArrayList<>();
    if (supportsDirectoryRename()) {
      second.add(rename("dir1", "dir2"));
    }
    second.add(ops(FsTree.file("somefiles/f1-overwrite", "new content 1", 0644)));
    second.add(rename("somefiles/f1-overwrite", "somefiles/f1"));
    second.add(rename("somefiles/f2", "somefiles/f3"));
    checkSnapshots(
        ops(FsTree.dir("dir1", 0700), FsTree.dir("somefiles", 0700), FsTree.file("somefiles/f1", "was here first!", 0644),
            FsTree.file("somefiles/f2", "nothing interesting", 0644)),
        all(second.toArray(Change[]::new)));
  }

  @Test
  void chownAndDirectoryPermissionsOnCommit() throws Exception {
    Root.assumeRoot("chown to other ids");
    checkSnapshots(
        ops(FsTree.dir("opt", 0700), FsTree.dir("opt/a", 0700), FsTree.dir("opt/a/b", 0700), FsTree.file("opt/a/b/file.txt", "hello", 0644)),
        ops(FsTree.chown("opt", 1, 1), FsTree.chown("opt/a", 1, 1), FsTree.chown("opt/a/b", 1, 1), FsTree.chown("opt/a/b/file.txt", 1, 1)));
    checkSnapshots(
        ops(FsTree.dir("dir1", 0700), FsTree.dir("dir2", 0700), FsTree.dir("dir3", 0700), FsTree.dir("dir4", 0700),
            FsTree.file("dir4/f1", "...", 0644), FsTree.dir("dir5", 0700), FsTree.file("dir5/f1", "...", 0644),
            FsTree.chown("dir1", 1, 1), FsTree.chown("dir2", 1, 1), FsTree.chown("dir3", 1, 1), FsTree.chown("dir5", 1, 1),
            FsTree.chown("dir5/f1", 1, 1)),
        ops(FsTree.chown("dir2", 0, 0), FsTree.remove("dir3"), FsTree.chown("dir4", 1, 1), FsTree.chown("dir4/f1", 1, 1)),
        ops(FsTree.dir("dir3", 0700), FsTree.chown("dir3", 1, 1), FsTree.remove("dir5"), FsTree.dir("dir5", 0700), FsTree.chown("dir5", 1, 1)));
  }

  @Test
  void specialFilesAndXattrsSurviveLayers() throws Exception {
    Root.assumeRoot("device nodes and trusted xattrs");
    checkSnapshots(
        ops(FsTree.chardev("dev/null", 1, 3, 0666), FsTree.fifo("run/fifo", 0600), FsTree.symlink("bin", "usr/bin"),
            FsTree.file("usr/bin/tool", "x", 04755), FsTree.xattr("usr/bin/tool", "trusted.lamina", "v"), FsTree.dir("tmp", 01777)),
        ops(FsTree.chmod("usr/bin/tool", 0755), FsTree.remove("run/fifo"), FsTree.link("usr/bin/tool2", "usr/bin/tool")));
  }

  @Test
  void rootOfAPreparedSnapshotIs0755() throws Exception {
    List<Mount> m = sn.prepare("preparing", "", GC_ROOT);
    int mode = withMounted(m, r -> Posix.get().lstat(r).permissions());
    assertThat(mode).isEqualTo(0755);
  }

  // -----------------------------------------------------------------------------------------------
  // long chains through real mounts

  /**
   * containerd's 128-layer test and then some: 130 layers, each prepared on the previous commit,
   * mounted, compared with a flat directory before and after the same changes, committed. Later
   * layers overwrite a file, add files, replace a directory and delete files of lower layers
   * through the mount (whiteouts). The top is checked through an active snapshot and a view.
   */
  @Test
  void chainOf130LayersShowsNewestVersionsAndWhiteouts() throws Exception {
    int layers = 130;
    Path flat = Files.createDirectory(work.resolve("flat"));
    String parent = "";
    long opNanos = 0;
    for (int i = 0; i < layers; i++) {
      Change change;
      if (i == 0) {
        change = ops(FsTree.file("bottom", "way at the bottom\n", 0777), FsTree.file("overwriteme", "FIRST!\n", 0777),
            FsTree.dir("addhere", 0755), FsTree.dir("onlyme", 0755), FsTree.file("onlyme/bottom", "bye!\n", 0777),
            FsTree.file("deleteme/0", "0", 0644));
      } else {
        List<FsOp> l = new ArrayList<>(List.of(
            FsTree.file("overwriteme", i + " WAS HERE!\n", 0777),
            FsTree.file("addhere/file-" + i, "same\n", 0755),
            FsTree.remove("onlyme"),
            FsTree.dir("onlyme", 0755),
            FsTree.file("onlyme/file-" + i, "only me!\n", 0777),
            FsTree.file("deleteme/" + i, Integer.toString(i), 0644)));
        if (i % 3 == 0) {
          l.add(FsTree.remove("deleteme/" + (i - 2))); // a file of a lower layer: a whiteout
        }
        change = ops(l.toArray(FsOp[]::new));
      }
      String key = "prepare-layer-" + i;
      long t0 = System.nanoTime();
      List<Mount> m = sn.prepare(key, parent, GC_ROOT);
      opNanos += System.nanoTime() - t0;
      Change c = change;
      withMounted(m, r -> {
        TreeAssert.assertSnapshotsEqual(TreeSnapshot.of(flat), TreeSnapshot.of(r));
        c.apply(r);
        return null;
      });
      change.apply(flat);
      parent = "committed-" + i;
      t0 = System.nanoTime();
      sn.commit(parent, key, "", GC_ROOT);
      opNanos += System.nanoTime() - t0;
    }
    System.out.printf("%s: %d layers, prepare+commit %.2f ms per layer%n", getClass().getSimpleName(), layers, opNanos / 1e6 / layers);

    assertThat(flat.resolve("overwriteme")).hasContent((layers - 1) + " WAS HERE!");
    assertThat(flat.resolve("deleteme/1")).doesNotExist();
    assertThat(flat.resolve("deleteme/2")).exists();
    assertMountedEquals(flat, sn.view("fullview", parent, GC_ROOT));
    assertMountedEquals(flat, sn.prepare("fullactive", parent, GC_ROOT));
    applyTo("fullactive", ops(FsTree.remove("bottom"), FsTree.remove("addhere/file-1")));
    withMounted(sn.mounts("fullactive"), r -> {
      assertThat(r.resolve("bottom")).doesNotExist();
      assertThat(r.resolve("addhere/file-1")).doesNotExist();
      assertThat(r.resolve("addhere/file-2")).exists();
      return null;
    });
    assertMountedEquals(flat, sn.view("fullview-again", parent, GC_ROOT));
  }

  /** A chain of a hundred layers, each prepared on the last; its time is bench/snapshotter-ops.sh's to measure. */
  @Test
  void hundredLayerChainStacksEveryLayer() throws Exception {
    String parent = "";
    int n = 100;
    for (int i = 0; i < n; i++) {
      sn.prepare("k" + i, parent, Map.of());
      applyTo("k" + i, ops(FsTree.file("layer-" + i, "layer " + i + "\n", 0644)));
      sn.commit("c" + i, "k" + i, "", Map.of());
      parent = "c" + i;
    }
    assertThat(sn.stat("c" + (n - 1)).parent()).isEqualTo("c" + (n - 2));
    TreeSnapshot top = treeOf(sn.view("top", parent, Map.of()));
    for (int i = 0; i < n; i++) {
      assertThat(top.entries()).containsKey("layer-" + i);
    }
  }

  // -----------------------------------------------------------------------------------------------
  // views

  @Test
  void views() throws Exception {
    String c1 = createSnapshot("", ops(FsTree.file("one", "1", 0644)));
    String c2 = createSnapshot(c1, ops(FsTree.file("two", "2", 0644)));

    List<Mount> empty = sn.view("v-none", "", GC_ROOT);
    assertThat(treeOf(empty).entries()).isEmpty();
    List<Mount> v1 = sn.view("v-one", c1, GC_ROOT);
    assertThat(treeOf(v1).entries()).containsOnlyKeys("one");
    List<Mount> v2 = sn.view("v-two", c2, GC_ROOT);
    assertThat(treeOf(v2).entries()).containsOnlyKeys("one", "two");
    assertThat(sn.mounts("v-two")).isEqualTo(v2);
    assertThat(sn.stat("v-two").kind()).isEqualTo(Kind.VIEW);
    assertThat(sn.stat("v-two").parent()).isEqualTo(c2);
    assertThat(sn.usage("v-two")).isEqualTo(Usage.ZERO);

    for (List<Mount> m : List.of(empty, v1, v2)) {
      // read-only: "ro", or an overlay without upperdir, which the kernel mounts read-only
      assertThat(m).allSatisfy(x -> assertThat(x.readOnly() || (x.type().equals("overlay")
          && x.options().stream().noneMatch(o -> o.startsWith("upperdir=")))).as(x.toString()).isTrue());
    }
    State before = state();
    assertKind(() -> sn.commit("c3", "v-two", "", GC_ROOT), ErrorKind.FAILED_PRECONDITION);
    assertThat(state()).isEqualTo(before);
    sn.remove("v-two");
    sn.remove("v-one");
    sn.remove("v-none");
    assertDirectoriesMatchMetadata();
  }

  @Test
  void viewsAreReadOnlyWhenMounted() throws Exception {
    Assumptions.assumeTrue(canMount(), "needs real mounts");
    String c1 = createSnapshot("", ops(FsTree.file("one", "1", 0644)));
    String c2 = createSnapshot(c1, ops(FsTree.file("two", "2", 0644)));
    for (String parent : List.of("", c1, c2)) {
      List<Mount> m = sn.view("view-of-" + parent, parent, GC_ROOT);
      withMounted(m, r -> {
        assertThatThrownBy(() -> Files.writeString(r.resolve("testfile"), "testcontent")).isInstanceOf(IOException.class);
        return null;
      });
    }
  }

  // -----------------------------------------------------------------------------------------------
  // removes

  @Test
  void removeRefusesParentsAndKeysCanBeReused() throws Exception {
    sn.prepare("committed-a", "", GC_ROOT);
    sn.commit("committed-1", "committed-a", "", GC_ROOT);
    sn.prepare("reuse-1", "committed-1", GC_ROOT);
    assertKind(() -> sn.remove("committed-1"), ErrorKind.FAILED_PRECONDITION);
    sn.remove("reuse-1");
    sn.view("reuse-1", "committed-1", GC_ROOT);
    assertKind(() -> sn.remove("committed-1"), ErrorKind.FAILED_PRECONDITION);
    sn.remove("reuse-1");
    sn.prepare("reuse-1", "", GC_ROOT);
    sn.remove("committed-1");
    sn.commit("committed-1", "reuse-1", "", GC_ROOT);
    assertThat(names()).containsExactly("committed-1");
    assertDirectoriesMatchMetadata();
  }

  @Test
  void removeIntermediateSnapshotFailsUntilTopIsGone() throws Exception {
    sn.prepare("base", "", GC_ROOT);
    sn.commit("committed-base", "base", "", GC_ROOT);
    sn.prepare("intermediate", "committed-base", GC_ROOT);
    sn.commit("committed-inter", "intermediate", "", GC_ROOT);
    sn.prepare("toplayer", "committed-inter", GC_ROOT);
    assertKind(() -> sn.remove("committed-inter"), ErrorKind.FAILED_PRECONDITION);
    sn.remove("toplayer");
    sn.remove("committed-inter");
    sn.remove("committed-base");
    assertThat(walkAll()).isEmpty();
    try (Stream<Path> s = Files.list(root.resolve("snapshots"))) {
      assertThat(s).as("remove deletes the directory before returning").isEmpty();
    }
  }

  // -----------------------------------------------------------------------------------------------
  // labels, usage, walk

  @Test
  void updateLabels() throws Exception {
    Instant t1 = Instant.now();
    sn.prepare("c1-a", "", GC_ROOT);
    sn.commit("c1", "c1-a", "", GC_ROOT);
    sn.prepare("c2-a", "c1", GC_ROOT);
    sn.commit("c2", "c2-a", "", GC_ROOT);
    sn.prepare("a1", "c2", GC_ROOT);
    sn.prepare("a2", "", GC_ROOT);
    sn.view("v1", "c2", GC_ROOT);
    sn.view("v2", "", GC_ROOT);
    Instant t2 = Instant.now();
    record Case(String name, Kind kind, String parent) {}
    for (Case tc : List.of(new Case("c1", Kind.COMMITTED, ""), new Case("c2", Kind.COMMITTED, "c1"), new Case("a1", Kind.ACTIVE, "c2"),
        new Case("a2", Kind.ACTIVE, ""), new Case("v1", Kind.VIEW, "c2"), new Case("v2", Kind.VIEW, ""))) {
      Info st = sn.stat(tc.name());
      assertThat(st.created()).isBetween(t1, t2);
      assertThat(st.updated()).isEqualTo(st.created());
      assertThat(st.kind()).isEqualTo(tc.kind());
      assertThat(st.parent()).isEqualTo(tc.parent());
      Instant created = st.created();

      Map<String, String> expected = new HashMap<>(Map.of("l1", "v1", "l2", "v2", "l3", "v3"));
      expected.putAll(GC_ROOT);
      Instant u1 = Instant.now();
      st = sn.update(new Info(st.kind(), st.name(), "doesnotexist", expected, st.created(), st.updated()), List.of());
      Instant u2 = Instant.now();
      assertThat(st.created()).isEqualTo(created);
      assertThat(st.updated()).isBetween(u1, u2);
      assertThat(st.kind()).isEqualTo(tc.kind());
      assertThat(st.parent()).as("parent is immutable").isEqualTo(tc.parent());
      assertThat(st.labels()).isEqualTo(expected);

      st = sn.update(new Info(st.kind(), st.name(), st.parent(), Map.of("l1", "updated", "l4", "v4"), null, null), List.of("labels.l1", "labels.l2"));
      Map<String, String> e2 = new HashMap<>(Map.of("l1", "updated", "l3", "v3"));
      e2.putAll(GC_ROOT);
      assertThat(st.labels()).isEqualTo(e2);
      assertThat(sn.stat(tc.name()).labels()).isEqualTo(e2);

      Map<String, String> e3 = new HashMap<>(Map.of("l4", "v4"));
      e3.putAll(GC_ROOT);
      st = sn.update(new Info(st.kind(), st.name(), st.parent(), e3, null, null), List.of("labels"));
      assertThat(st.labels()).isEqualTo(e3);

      Info bad = new Info(st.kind(), st.name(), "doesnotexist", st.labels(), null, null);
      assertKind(() -> sn.update(bad, List.of("parent")), ErrorKind.INVALID_ARGUMENT);
      assertThat(sn.stat(tc.name()).labels()).isEqualTo(e3);
    }
    assertKind(() -> sn.update(new Info(Kind.ACTIVE, "missing", "", Map.of(), null, null), List.of()), ErrorKind.NOT_FOUND);
  }

  @Test
  void usageGrowsByWhatWasWritten() throws Exception {
    String base = createSnapshot("", ops(FsTree.file("base", new byte[200_000], 0644)));
    byte[] mib = new byte[1 << 20];
    Arrays.fill(mib, (byte) 7);
    Change writes = ops(
        FsTree.file("big", mib, 0644),
        FsTree.file("dir/a", "a", 0644), FsTree.file("dir/b", "bb", 0644), FsTree.file("dir/c", "ccc", 0644),
        FsTree.symlink("dir/link", "a"));
    Path emptyFlat = Files.createDirectory(work.resolve("usage-empty"));
    Path writtenFlat = Files.createDirectory(work.resolve("usage-written"));
    writes.apply(writtenFlat);
    DiskUsage growth = new DiskUsage(
        DiskUsage.of(writtenFlat).inodes() - DiskUsage.of(emptyFlat).inodes(),
        DiskUsage.of(writtenFlat).size() - DiskUsage.of(emptyFlat).size());

    for (String parent : List.of("", base)) {
      String key = "active-on-" + parent;
      sn.prepare(key, parent, GC_ROOT);
      Usage before = sn.usage(key);
      if (parent.isEmpty() || !usageIncludesParents()) {
        assertThat(before).as("a new layer holds an empty directory").isEqualTo(new Usage(1, DiskUsage.of(emptyFlat).size()));
      } else {
        assertThat(before.size()).as("a copy holds its parent's files").isGreaterThan(200_000);
      }
      applyTo(key, writes);
      Usage after = sn.usage(key);
      assertThat(after.inodes() - before.inodes()).isEqualTo(growth.inodes());
      assertThat(after.size() - before.size()).isEqualTo(growth.size());
      String committed = "committed-on-" + parent;
      sn.commit(committed, key, "", GC_ROOT);
      assertThat(sn.usage(committed)).as("usage recorded at commit").isEqualTo(after);
    }
    assertKind(() -> sn.usage("missing"), ErrorKind.NOT_FOUND);
  }

  @Test
  void walkWithFilters() throws Exception {
    Map<String, String> opt = Map.of("containerd.io/gc.root", "check-walk");
    sn.prepare("a-np", "", opt);
    sn.prepare("p-tmp", "", opt);
    sn.commit("p", "p-tmp", "", opt);
    sn.prepare("a", "p", opt);
    sn.view("v", "p", opt);
    sn.prepare("p-wl-tmp", "", opt);
    sn.commit("p-wl", "p-wl-tmp", "", Map.of("l", "1", "containerd.io/gc.root", "check-walk"));
    sn.prepare("a-wl", "p-wl", Map.of("l", "2", "containerd.io/gc.root", "check-walk"));
    sn.view("v-wl", "p-wl", Map.of("l", "3", "containerd.io/gc.root", "check-walk"));
    sn.prepare("a-np-wl", "", Map.of("l", "2", "containerd.io/gc.root", "check-walk"));
    sn.prepare("unlabelled", "", Map.of());

    record Case(List<String> matches, List<String> filters) {}
    List<Case> cases = List.of(
        new Case(List.of("a-np", "p", "a", "v", "p-wl", "a-wl", "v-wl", "a-np-wl"), List.of("labels.\"containerd.io/gc.root\"==check-walk")),
        new Case(List.of("a-np", "a", "a-wl", "a-np-wl"), List.of("kind==active,labels.\"containerd.io/gc.root\"==check-walk")),
        new Case(List.of("v", "v-wl"), List.of("kind==view,labels.\"containerd.io/gc.root\"==check-walk")),
        new Case(List.of("p", "p-wl"), List.of("kind==committed,labels.\"containerd.io/gc.root\"==check-walk")),
        new Case(List.of("p", "a-np-wl"), List.of("name==p", "name==a-np-wl")),
        new Case(List.of("a-wl"), List.of("name==a-wl,labels.l")),
        new Case(List.of("a", "v"), List.of("parent==p")),
        new Case(List.of("a", "v", "a-wl", "v-wl"), List.of("parent!=\"\",labels.\"containerd.io/gc.root\"==check-walk")),
        new Case(List.of("p-wl", "a-wl", "v-wl", "a-np-wl"), List.of("labels.l")),
        new Case(List.of("a-wl", "a-np-wl"), List.of("labels.l==2")),
        new Case(List.of("a-np", "a-np-wl"), List.of("name~=/^a-np/")),
        new Case(List.of("a-np", "p", "a", "v", "p-wl", "a-wl", "v-wl", "a-np-wl", "unlabelled"), List.of()));
    for (Case c : cases) {
      assertThat(names(c.filters().toArray(String[]::new))).as(c.filters().toString()).containsExactlyInAnyOrderElementsOf(c.matches());
    }
    assertKind(() -> sn.walk(i -> {}, List.of("kind==")), ErrorKind.INVALID_ARGUMENT);
    assertKind(() -> sn.walk(i -> {}, List.of("kind=~active")), ErrorKind.INVALID_ARGUMENT);
  }

  @Test
  void statInWalkAgrees() throws Exception {
    sn.prepare("c1-a", "", GC_ROOT);
    sn.commit("c1", "c1-a", "", GC_ROOT);
    sn.prepare("c2-a", "c1", GC_ROOT);
    sn.commit("c2", "c2-a", "", GC_ROOT);
    sn.prepare("a1", "c2", GC_ROOT);
    sn.view("v1", "c2", GC_ROOT);
    for (Info i : walkAll()) {
      assertThat(sn.stat(i.name())).isEqualTo(i);
    }
  }

  // -----------------------------------------------------------------------------------------------
  // errors change nothing

  @Test
  void failuresReturnContainerdErrorKindsAndChangeNothing() throws Exception {
    String c1 = createSnapshot("", ops(FsTree.file("one", "1", 0644)));
    String c2 = createSnapshot(c1, ops(FsTree.file("two", "2", 0644)));
    sn.prepare("a1", c2, GC_ROOT);
    applyTo("a1", ops(FsTree.file("three", "3", 0644)));
    sn.view("v1", c2, GC_ROOT);
    sn.prepare("a-np", "", GC_ROOT);
    String tooBig = "x".repeat(5000);

    record Case(String what, ThrowingCall call, ErrorKind kind) {}
    List<Case> cases = new ArrayList<>(List.of(
        new Case("stat unknown", () -> sn.stat("missing"), ErrorKind.NOT_FOUND),
        new Case("mounts unknown", () -> sn.mounts("missing"), ErrorKind.NOT_FOUND),
        new Case("mounts of committed", () -> sn.mounts(c1), ErrorKind.FAILED_PRECONDITION),
        new Case("usage unknown", () -> sn.usage("missing"), ErrorKind.NOT_FOUND),
        new Case("prepare existing active", () -> sn.prepare("a1", "", GC_ROOT), ErrorKind.ALREADY_EXISTS),
        new Case("prepare existing committed", () -> sn.prepare(c1, "", GC_ROOT), ErrorKind.ALREADY_EXISTS),
        new Case("view existing", () -> sn.view("v1", c2, GC_ROOT), ErrorKind.ALREADY_EXISTS),
        new Case("prepare on unknown parent", () -> sn.prepare("x", "missing", GC_ROOT), ErrorKind.NOT_FOUND),
        new Case("prepare on active parent", () -> sn.prepare("x", "a1", GC_ROOT), ErrorKind.INVALID_ARGUMENT),
        new Case("view on view parent", () -> sn.view("x", "v1", GC_ROOT), ErrorKind.INVALID_ARGUMENT),
        new Case("prepare empty key", () -> sn.prepare("", "", GC_ROOT), ErrorKind.INVALID_ARGUMENT),
        new Case("prepare key with NUL", () -> sn.prepare("a\0b", "", GC_ROOT), ErrorKind.INVALID_ARGUMENT),
        new Case("prepare with oversized label", () -> sn.prepare("x", "", Map.of("big", tooBig)), ErrorKind.INVALID_ARGUMENT),
        new Case("commit view", () -> sn.commit("c3", "v1", "", GC_ROOT), ErrorKind.FAILED_PRECONDITION),
        new Case("commit committed", () -> sn.commit("c3", c2, "", GC_ROOT), ErrorKind.FAILED_PRECONDITION),
        new Case("commit unknown", () -> sn.commit("c3", "missing", "", GC_ROOT), ErrorKind.NOT_FOUND),
        new Case("commit onto existing name", () -> sn.commit(c1, "a1", "", GC_ROOT), ErrorKind.ALREADY_EXISTS),
        new Case("commit as its own key", () -> sn.commit("a1", "a1", "", GC_ROOT), ErrorKind.ALREADY_EXISTS),
        new Case("commit empty name", () -> sn.commit("", "a1", "", GC_ROOT), ErrorKind.INVALID_ARGUMENT),
        new Case("rebase onto another parent", () -> sn.commit("c3", "a1", c1, GC_ROOT), ErrorKind.INVALID_ARGUMENT),
        new Case("rebase onto unknown parent", () -> sn.commit("c3", "a-np", "missing", GC_ROOT), ErrorKind.NOT_FOUND),
        new Case("rebase onto active parent", () -> sn.commit("c3", "a-np", "a1", GC_ROOT), ErrorKind.FAILED_PRECONDITION),
        new Case("remove with children", () -> sn.remove(c1), ErrorKind.FAILED_PRECONDITION),
        new Case("remove with active and view children", () -> sn.remove(c2), ErrorKind.FAILED_PRECONDITION),
        new Case("remove unknown", () -> sn.remove("missing"), ErrorKind.NOT_FOUND),
        new Case("update unknown", () -> sn.update(new Info(Kind.ACTIVE, "missing", "", Map.of(), null, null), List.of()), ErrorKind.NOT_FOUND),
        new Case("update immutable field", () -> sn.update(sn.stat(c1), List.of("parent")), ErrorKind.INVALID_ARGUMENT),
        new Case("update with oversized label", () -> sn.update(new Info(Kind.COMMITTED, c1, "", Map.of("big", tooBig), null, null), List.of()), ErrorKind.INVALID_ARGUMENT),
        new Case("walk with bad filter", () -> sn.walk(i -> {}, List.of("labels.\"unterminated")), ErrorKind.INVALID_ARGUMENT)));
    if (!supportsRebase()) {
      cases.add(new Case("rebase unsupported", () -> sn.commit("c3", "a-np", c2, GC_ROOT), ErrorKind.NOT_IMPLEMENTED));
    }
    for (Case c : cases) {
      State before = state();
      assertThatThrownBy(c.call()::run)
          .as(c.what())
          .isInstanceOf(LaminaException.class)
          .satisfies(e -> assertThat(((LaminaException) e).kind()).as(c.what() + ": " + e.getMessage()).isEqualTo(c.kind()));
      assertThat(state()).as(c.what() + " changed something").isEqualTo(before);
    }
    assertDirectoriesMatchMetadata();
  }

  // -----------------------------------------------------------------------------------------------
  // keys are data, never paths

  @Test
  void keysThatLookLikePathsStayData() throws Exception {
    List<String> keys = List.of("../x", "a/../../b", "/etc/passwd", "default/1/sha256:0123abcd", ".", "..", "with\nnewline", "snapshots",
        "metadata.db", "1", "rm-1", "new-x", "k".repeat(10_000), "ünïcødé/🙂");
    List<String> before;
    try (Stream<Path> s = Files.list(tmp)) {
      before = s.map(Path::toString).sorted().toList();
    }
    String parent = "";
    for (String key : keys) {
      sn.prepare(key, parent, GC_ROOT);
      applyTo(key, ops(FsTree.file("marker", key.length() > 100 ? "long" : key, 0644)));
      String name = key + "#committed";
      sn.commit(name, key, "", Map.of("key", key.length() > 100 ? "long" : key));
      assertThat(sn.stat(name).parent()).isEqualTo(parent);
      parent = name;
    }
    sn.view("..", parent, GC_ROOT); // "." and ".." were committed under other names; the keys are free again
    assertThat(treeOf(sn.mounts("..")).entries()).containsOnlyKeys("marker");
    try (Stream<Path> s = Files.list(tmp)) {
      assertThat(s.map(Path::toString).sorted().toList()).isEqualTo(before);
    }
    try (Stream<Path> s = Files.list(root.resolve("snapshots"))) {
      assertThat(s.map(p -> p.getFileName().toString())).allMatch(n -> n.matches("[0-9]+"));
    }
    assertDirectoriesMatchMetadata();
    assertThat(names()).hasSize(keys.size() + 1);
  }

  // -----------------------------------------------------------------------------------------------
  // concurrency, cleanup, reopen

  @Test
  void concurrentPrepareCommitRemoveFromSeveralThreads() throws Exception {
    sn.prepare("base-a", "", GC_ROOT);
    sn.commit("base", "base-a", "", GC_ROOT);
    sn.view("base-keeper", "base", GC_ROOT);
    int threads = 4;
    int rounds = 25;
    ExecutorService pool = Executors.newFixedThreadPool(threads + 2);
    ConcurrentLinkedQueue<Throwable> errors = new ConcurrentLinkedQueue<>();
    AtomicBoolean done = new AtomicBoolean();
    CountDownLatch start = new CountDownLatch(1);
    List<Future<?>> futures = new ArrayList<>();
    for (int t = 0; t < threads; t++) {
      int id = t;
      futures.add(pool.submit(() -> {
        try {
          start.await();
          String parent = "base";
          for (int i = 0; i < rounds; i++) {
            String key = "t" + id + "-k" + i;
            sn.prepare(key, parent, GC_ROOT);
            sn.commit("t" + id + "-c" + i, key, "", GC_ROOT);
            sn.view("t" + id + "-v" + i, "t" + id + "-c" + i, GC_ROOT);
            sn.remove("t" + id + "-v" + i);
            if (i % 2 == 1) {
              sn.prepare(key + "-abandoned", "t" + id + "-c" + i, GC_ROOT);
              sn.remove(key + "-abandoned");
              sn.remove("t" + id + "-c" + i);
            } else {
              parent = "t" + id + "-c" + i;
            }
          }
        } catch (Throwable e) {
          errors.add(e);
        }
        return null;
      }));
    }
    // someone keeps trying to remove the shared base, and someone keeps cleaning up
    futures.add(pool.submit(() -> {
      start.await();
      while (!done.get()) {
        try {
          sn.remove("base");
          errors.add(new AssertionError("removed base while it had children"));
        } catch (LaminaException e) {
          if (e.kind() != ErrorKind.FAILED_PRECONDITION) {
            errors.add(e);
          }
        }
        Thread.sleep(2);
      }
      return null;
    }));
    futures.add(pool.submit(() -> {
      start.await();
      while (!done.get()) {
        try {
          sn.cleanup();
        } catch (Throwable e) {
          errors.add(e);
        }
        Thread.sleep(5);
      }
      return null;
    }));
    start.countDown();
    for (int i = 0; i < threads; i++) {
      futures.get(i).get(5, TimeUnit.MINUTES);
    }
    done.set(true);
    for (Future<?> f : futures) {
      f.get(1, TimeUnit.MINUTES);
    }
    pool.shutdown();
    if (!errors.isEmpty()) {
      Throwable first = errors.peek();
      fail(errors.size() + " errors, first: " + first, first);
    }
    Set<String> expected = new TreeSet<>(List.of("base", "base-keeper"));
    for (int t = 0; t < threads; t++) {
      for (int i = 0; i < rounds; i += 2) {
        expected.add("t" + t + "-c" + i);
      }
    }
    assertThat(names()).isEqualTo(expected);
    sn.cleanup();
    assertDirectoriesMatchMetadata();
  }

  @Test
  void cleanupRemovesOrphanDirectories() throws Exception {
    String c1 = createSnapshot("", ops(FsTree.file("one", "1", 0644)));
    sn.prepare("active", c1, GC_ROOT);
    sn.view("view", c1, GC_ROOT);
    Path snapshots = root.resolve("snapshots");
    for (String orphan : List.of("new-deadbeef", "999999", "rm-888888", "gc-0123", "junk")) {
      FsTree.apply(snapshots.resolve(orphan), FsTree.file("fs/file", "orphan", 0644), FsTree.dir("work", 0711));
    }
    Files.writeString(snapshots.resolve("stray-file"), "x");
    State live = state();

    sn.cleanup();

    try (Stream<Path> s = Files.list(snapshots)) {
      assertThat(s.map(p -> p.getFileName().toString())).allMatch(n -> n.matches("[0-9]+")).hasSize(3);
    }
    assertDirectoriesMatchMetadata();
    assertThat(state().infos()).isEqualTo(live.infos());
    assertThat(treeOf(sn.view("check", c1, GC_ROOT)).entries()).containsOnlyKeys("one");
  }

  /**
   * What a crash after a create's directory was made but before its metadata committed leaves: a
   * directory, or anything else, at the id the next create gets. That create goes ahead on a
   * clean directory and the leftover is deleted.
   */
  @ParameterizedTest
  @ValueSource(booleans = {true, false})
  void aLeftoverAtTheNextIdGivesWayToTheNextCreate(boolean leftoverIsDirectory) throws Exception {
    String c1 = createSnapshot("", ops(FsTree.file("one", "1", 0644)));
    Path dir = directoryOf(sn, c1);
    Path next = dir.resolveSibling(Long.toString(Long.parseLong(dir.getFileName().toString()) + 1));
    if (leftoverIsDirectory) {
      FsTree.apply(next, FsTree.file("fs/stale", "from an interrupted create", 0644), FsTree.dir("work", 0711));
    } else {
      Files.writeString(next, "x");
    }

    sn.prepare("after-crash", c1, GC_ROOT);

    assertThat(directoryOf(sn, "after-crash")).isEqualTo(next);
    assertThat(next.resolve("fs/stale")).doesNotExist();
    assertThat(treeOf(sn.mounts("after-crash")).entries()).containsOnlyKeys("one");
    try (Stream<Path> s = Files.list(dir.getParent())) {
      assertThat(s.map(p -> p.getFileName().toString())).allMatch(n -> n.matches("[0-9]+"));
    }
    assertDirectoriesMatchMetadata();
  }

  @Test
  void anInterruptedRemoveIsUndoneOnReopen() throws Exception {
    String c1 = createSnapshot("", ops(FsTree.file("one", "1", 0644)));
    Path dir = directoryOf(sn, c1);
    sn.close();
    // what a crash between the rename and the metadata commit of remove(c1) leaves
    Files.move(dir, dir.resolveSibling("rm-" + dir.getFileName()));
    sn = create(root);
    assertThat(dir).isDirectory();
    assertThat(treeOf(sn.view("check", c1, GC_ROOT)).entries()).containsOnlyKeys("one");
    sn.cleanup();
    assertDirectoriesMatchMetadata();
  }

  @Test
  void reopenKeepsEverything() throws Exception {
    String c1 = createSnapshot("", ops(FsTree.file("one", "1", 0644), FsTree.dir("d", 0700)));
    String c2 = createSnapshot(c1, ops(FsTree.file("two", "2", 0644), FsTree.remove("one")));
    sn.prepare("active", c2, Map.of("a", "b"));
    applyTo("active", ops(FsTree.file("three", "3", 0644)));
    sn.view("view", c2, GC_ROOT);
    sn.update(new Info(Kind.COMMITTED, c1, "", Map.of("updated", "yes"), null, null), List.of("labels.updated"));
    State before = state();
    List<Mount> activeMounts = sn.mounts("active");
    TreeSnapshot activeTree = treeOf(activeMounts);
    TreeSnapshot viewTree = treeOf(sn.mounts("view"));
    Path lastDir = directoryOf(sn, "view");
    sn.close();
    sn.close(); // twice is fine

    sn = create(root);
    assertThat(state()).isEqualTo(before);
    assertThat(sn.mounts("active")).isEqualTo(activeMounts);
    TreeAssert.assertSnapshotsEqual(activeTree, treeOf(sn.mounts("active")));
    TreeAssert.assertSnapshotsEqual(viewTree, treeOf(sn.mounts("view")));
    sn.prepare("after-reopen", c2, GC_ROOT);
    long lastId = Long.parseLong(lastDir.getFileName().toString());
    assertThat(Long.parseLong(directoryOf(sn, "after-reopen").getFileName().toString())).isGreaterThan(lastId);
    assertDirectoriesMatchMetadata();
  }

  @Test
  void secondOpenOfTheSameRootIsRefused() {
    assertKind(() -> create(root).close(), ErrorKind.FAILED_PRECONDITION);
  }

  // -----------------------------------------------------------------------------------------------
  // rebase (parallel unpack)

  @Test
  void commitWithParentRebasesALayerPreparedWithoutOne() throws Exception {
    String c1 = createSnapshot("", ops(FsTree.file("a", "a", 0644), FsTree.file("b", "b", 0644), FsTree.dir("tmp", 01777)));
    sn.prepare("unpack-2", "", GC_ROOT);
    applyTo("unpack-2", ops(FsTree.file("c", "c", 0644), FsTree.file("b", "b2", 0644)));
    if (Root.isRoot()) {
      applyTo("unpack-2", ops(FsTree.chardev("a", 0, 0, 0))); // an overlay whiteout, as an applier writes it
    }
    if (!supportsRebase()) {
      State before = state();
      assertKind(() -> sn.commit("c2", "unpack-2", c1, GC_ROOT), ErrorKind.NOT_IMPLEMENTED);
      assertThat(state()).isEqualTo(before);
      return;
    }
    sn.commit("c2", "unpack-2", c1, GC_ROOT);
    assertThat(sn.stat("c2").parent()).isEqualTo(c1);
    assertKind(() -> sn.remove(c1), ErrorKind.FAILED_PRECONDITION);
    Map<String, TreeSnapshot.Entry> entries = treeOf(sn.view("check", "c2", GC_ROOT)).entries();
    assertThat(entries).containsKeys("b", "c", "tmp");
    if (Root.isRoot()) {
      assertThat(entries).doesNotContainKey("a");
    }
    // same parent again is allowed too
    sn.prepare("p3", "c2", GC_ROOT);
    sn.commit("c3", "p3", "c2", GC_ROOT);
    assertThat(sn.stat("c3").parent()).isEqualTo("c2");
  }
}
