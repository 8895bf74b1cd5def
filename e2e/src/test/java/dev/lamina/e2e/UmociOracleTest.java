package dev.lamina.e2e;

import static dev.lamina.fstest.FsTree.blockdev;
import static dev.lamina.fstest.FsTree.chardev;
import static dev.lamina.fstest.FsTree.chmod;
import static dev.lamina.fstest.FsTree.chown;
import static dev.lamina.fstest.FsTree.dir;
import static dev.lamina.fstest.FsTree.fifo;
import static dev.lamina.fstest.FsTree.file;
import static dev.lamina.fstest.FsTree.link;
import static dev.lamina.fstest.FsTree.remove;
import static dev.lamina.fstest.FsTree.removeXattr;
import static dev.lamina.fstest.FsTree.symlink;
import static dev.lamina.fstest.FsTree.xattr;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lamina.archive.ApplyOptions;
import dev.lamina.archive.WhiteoutMode;
import dev.lamina.diff.AppliedLayer;
import dev.lamina.diff.LayerBlob;
import dev.lamina.diff.StreamApplier;
import dev.lamina.digest.Digest;
import dev.lamina.fstest.FsOp;
import dev.lamina.fstest.FsTree;
import dev.lamina.fstest.RandomTrees;
import dev.lamina.fstest.Root;
import dev.lamina.fstest.TreeAssert;
import dev.lamina.fstest.TreeSnapshot;
import dev.lamina.posix.FileStat;
import dev.lamina.posix.Posix;
import dev.lamina.processor.StreamProcessors;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.stream.LongStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * umoci as an independent oracle for layer application. Each scenario builds a multi-layer OCI
 * image with umoci (unpack, change the rootfs with {@link FsTree} ops, repack; a few layers are
 * hand-made tars added with {@code umoci raw add-layer}), then checks that lamina, given the same
 * blobs, produces the tree {@code umoci unpack} produces:
 *
 * <ul>
 *   <li>applying every layer with naive whiteouts onto one directory (the diff IDs must match the
 *       config's {@code rootfs.diff_ids});
 *   <li>applying every layer with overlay whiteouts into its own upper directory and mounting
 *       them as one read-only overlay (root only);
 *   <li>once through the command line, {@code bin/lamina layer apply --json}.
 * </ul>
 *
 * <p>Trees are compared by type, mode (with setuid/setgid/sticky), owner, content, symlink
 * target, device numbers, xattrs (security.selinux aside: it is host policy, and umoci neither
 * packs nor unpacks it), hard-link groups and mtimes (those of directories aside: see {@link
 * #assertSameTree}).
 *
 * <p>Findings so far, each pinned by a scenario: umoci 0.4.7 writes whiteouts beneath a
 * directory it replaced by a file or symlink ({@code e} then {@code e/.wh.1}), which lamina used
 * to reject; a whiteout after an entry of the same name in one layer must keep that entry; a
 * directory entry replaces the xattrs of the directory already there; and umoci itself loses a
 * file when a directory becomes a symlink to another directory ({@link
 * #directoryReplacedBySymlink}).
 */
class UmociOracleTest {
  private static final String TAG = "t";
  private static final long[] RANDOM_SEEDS = {1, 7, 42, 2024, 31337};
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path tmp;

  @BeforeAll
  static void umociInstalled() {
    Umoci.assumeInstalled();
  }

  // ------------------------------------------------------------------ the checks

  @ParameterizedTest(name = "{0}")
  @MethodSource("scenarios")
  void naiveApplyMatchesUmociUnpack(Scenario scenario) throws Exception {
    scenario.assumeRunnable();
    Built built = build(scenario);
    Path actual = Files.createDirectory(tmp.resolve("lamina"));
    for (OciImage.Layer layer : built.image().layers()) {
      apply(built.image(), layer, actual, ApplyOptions.defaults());
    }
    assertSameTree(built.oracle(), actual, compareOptions().includingRoot());
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("scenarios")
  void overlayOfUpperDirsMatchesUmociUnpack(Scenario scenario) throws Exception {
    scenario.assumeRunnable();
    Root.assumeRoot("mounting overlayfs and writing trusted.overlay.* xattrs");
    Built built = build(scenario);
    ApplyOptions overlay = ApplyOptions.defaults().withWhiteouts(WhiteoutMode.OVERLAY);
    List<Path> uppers = new ArrayList<>();
    for (OciImage.Layer layer : built.image().layers()) {
      Path upper = Files.createDirectories(tmp.resolve("layers/" + uppers.size() + "/fs"));
      AppliedLayer applied = apply(built.image(), layer, upper, overlay);
      // What the snapshotter does before it commits a layer (DESIGN.md, "Parallel unpack"):
      // directories the tar created only as parents take the attributes the parent chain has.
      fixImplicitDirectories(applied.stats().implicitDirectories(), upper, uppers);
      uppers.add(upper);
    }
    Path merged = Files.createDirectory(tmp.resolve("merged"));
    try (Overlay mount = Overlay.readOnly(uppers, merged, tmp.resolve("empty-lower"))) {
      // The merged root is the top upper dir itself, which a snapshotter creates and owns (a
      // layer without a "./" entry leaves it as made), so the root is compared by the naive test.
      assertSameTree(built.oracle(), merged, compareOptions());
    }
  }

  /**
   * Checks the oracle itself: umoci unpacks the last layer it packed into the tree it was asked to
   * pack. When this fails, a failure of the lamina checks on the same scenario says little.
   */
  @ParameterizedTest(name = "{0}")
  @MethodSource("scenarios")
  void umociRoundTripsTheFixture(Scenario scenario) throws Exception {
    scenario.assumeRunnable();
    Built built = build(scenario);
    Assumptions.assumeTrue(built.lastPacked() != null, "the top layer is hand-made, not packed by umoci");
    // Without mtimes: umoci 0.4.7 packs them with Go's archive/tar default, which rounds to the
    // nearest second (umoci 0.6.0 truncates instead), so a packed mtime can be one second late.
    TreeSnapshot.Options options = compareOptions(false).includingRoot();
    List<String> flaws = TreeSnapshot.of(built.lastPacked(), options).differences(TreeSnapshot.of(built.oracle(), options));
    assertThat(flaws).as("umoci unpack of what umoci repack packed").isEqualTo(scenario.umociRoundTripFlaws());
  }

  @Test
  void commandLineAppliesEachLayerAndPrintsTheConfigDiffId() throws Exception {
    Path launcher = projectRoot().resolve("bin/lamina");
    Path jar = projectRoot().resolve("image-service/target/lamina.jar");
    Assumptions.assumeTrue(Files.isRegularFile(jar) && Files.isExecutable(launcher),
        () -> jar + " is missing; build it first: (cd " + projectRoot() + " && mvn -q -DskipTests package)");
    Scenario scenario = scenarios().filter(s -> s.name().equals("deletions")).findFirst().orElseThrow();
    Built built = build(scenario);
    Path actual = tmp.resolve("cli");
    for (OciImage.Layer layer : built.image().layers()) {
      Commands.Result r = Commands.run(null, Duration.ofMinutes(2), List.of(launcher.toString(), "layer", "apply",
          "--json", actual.toString(), built.image().blob(layer.digest()).toString())).check();
      JsonNode printed = JSON.readTree(r.stdout());
      assertThat(printed.path("diffId").asText()).as("diffId printed for %s", layer.digest()).isEqualTo(layer.diffId());
      assertThat(printed.path("compressedSize").asLong()).as("compressedSize of %s", layer.digest())
          .isEqualTo(layer.size());
    }
    assertSameTree(built.oracle(), actual, compareOptions().includingRoot());
  }

  // ------------------------------------------------------------------ scenarios

  /**
   * A named recipe for an image.
   *
   * @param needsRoot when it chowns, makes devices or sets capabilities
   * @param umociRoundTripFlaws what {@link #umociRoundTripsTheFixture} finds wrong with umoci itself,
   *     as difference lines (packed tree expected, umoci's unpack actual); empty when umoci is faithful
   */
  record Scenario(String name, boolean needsRoot, Recipe recipe, List<String> umociRoundTripFlaws) {
    Scenario(String name, boolean needsRoot, Recipe recipe) {
      this(name, needsRoot, recipe, List.of());
    }

    void assumeRunnable() {
      if (needsRoot) {
        Root.assumeRoot("scenario " + name + " (ownership, device nodes, capabilities)");
      }
    }

    @Override
    public String toString() {
      return name;
    }
  }

  @FunctionalInterface
  interface Recipe {
    void build(Umoci umoci, Path scratch) throws Exception;
  }

  static Stream<Scenario> scenarios() {
    List<Scenario> all = new ArrayList<>(List.of(
        new Scenario("basics", true, UmociOracleTest::basics),
        new Scenario("deletions", false, UmociOracleTest::deletions),
        new Scenario("hard-links", false, UmociOracleTest::hardLinks),
        new Scenario("directory-metadata", true, UmociOracleTest::directoryMetadata),
        new Scenario("hand-made-opaque-whiteouts", false, UmociOracleTest::handMadeOpaque),
        new Scenario("hand-made-whiteout-after-entry", false, UmociOracleTest::handMadeWhiteoutAfterEntry),
        new Scenario("directory-replaced-by-symlink", false, UmociOracleTest::directoryReplacedBySymlink,
            List.of("only in expected: target/inside (file)"))));
    LongStream.of(RANDOM_SEEDS).forEach(seed -> all.add(new Scenario("random-" + seed, false, (umoci, scratch) -> {
      RandomTrees.Pair pair = RandomTrees.generate(seed, RandomTrees.Options.forCurrentUser());
      umoci.layer(ops(pair.a()));
      umoci.layer(ops(pair.mutations()));
    })));
    return all.stream();
  }

  /** Every kind of entry and attribute, then changes to each in a second layer. */
  private static void basics(Umoci umoci, Path scratch) throws Exception {
    byte[] big = new byte[3 * 1024 * 1024 + 17]; // spans several read-ahead chunks
    new Random(5).nextBytes(big);
    umoci.layer(ops(
        dir("etc", 0755),
        file("etc/hostname", "oracle\n", 0644),
        xattr("etc/hostname", "user.origin", "umoci"),
        file("etc/shadow", "root:*:19000:0:99999:7:::\n", 0640),
        chown("etc/shadow", 0, 42),
        xattr("etc/shadow", "user.a", "to be removed"),
        file("etc/empty", "", 0644),
        dir("tmp", 01777),
        dir("srv", 02775),
        chown("srv", 1000, 1001),
        file("usr/bin/su", "#!su\n", 04755),
        file("usr/bin/wall", "#!wall\n", 02755),
        chown("usr/bin/wall", 0, 5),
        file("usr/bin/ping", "ELF ping\n", 0755),
        // the same bytes setcap writes for cap_net_raw+p (v2, not effective)
        file("usr/bin/arping", "ELF arping\n", 0755),
        xattr("usr/bin/arping", "security.capability", capabilityV2(13, false)),
        xattr("usr", "user.dir", "on a directory"),
        file("usr/share/zoneinfo/UTC", "TZif2\n", 0644),
        file("usr/share/ünïcødé näme.txt", "non-ASCII\n", 0644),
        file("usr/share/" + "long-name-".repeat(12) + "end", "over 100 bytes\n", 0644),
        file("usr/lib/big.bin", big, 0644),
        file("usr/lib/libc.so.6", "libc\n", 0755),
        link("usr/lib/libc.so", "usr/lib/libc.so.6"),
        link("opt/libc-copy", "usr/lib/libc.so.6"),
        xattr("usr/lib/libc.so.6", "user.shared", "one inode, three names"),
        symlink("bin", "usr/bin"),
        symlink("etc/localtime", "/usr/share/zoneinfo/UTC"),
        symlink("dangling", "does/not/exist"),
        symlink("abs-dangling", "/nonexistent/target"),
        symlink("etc/climbs", "../../../../etc/passwd"),
        file("home/user/notes", "mine\n", 0600),
        chown("home/user/notes", 1000, 1000),
        chown("home/user", 1000, 1000),
        file("home/big-ids/f", "ids above 65535\n", 0644),
        chown("home/big-ids/f", 100000, 100000),
        chown("home/big-ids", 65534, 65534),
        fifo("run/initctl", 0600),
        chardev("dev/null", 1, 3, 0666),
        chardev("dev/zero", 1, 5, 0666),
        chardev("dev/tty", 5, 0, 0666),
        chown("dev/tty", 0, 5),
        blockdev("dev/loop0", 7, 0, 0660)));
    umoci.layer(rootfs -> {
      setcap(rootfs.resolve("usr/bin/ping"), "cap_net_raw+ep");
      FsTree.apply(rootfs,
          file("etc/hostname", "changed\n", 0644), // a new inode: the xattr goes with the old one
          removeXattr("etc/shadow", "user.a"),
          chmod("usr/bin/su", 04711),
          xattr("usr/bin/su", "user.note", "added later"),
          link("usr/bin/su3", "usr/bin/su"), // a new name for a file of the lower layer
          chown("srv", 1001, 1000),
          chmod("dev/null", 0600),
          remove("run/initctl"),
          file("run/initctl", "a file now\n", 0644),
          symlink("bin", "usr/local/bin"),
          chardev("dev/console", 5, 1, 0620),
          file("usr/lib/big.bin", "small now\n", 0644));
    });
  }

  /** Files and whole directories deleted, directories replaced by other types and recreated. */
  private static void deletions(Umoci umoci, Path scratch) throws Exception {
    umoci.layer(ops(
        file("a/keep", "k\n", 0644),
        file("a/gone", "g\n", 0644),
        file("a/sub/x", "x\n", 0644),
        file("a/sub/deeper/y", "y\n", 0644),
        file("b/1", "1\n", 0644),
        file("b/2", "2\n", 0644),
        file("b/c/3", "3\n", 0644),
        chmod("b", 0750),
        file("c/old1", "o1\n", 0644),
        file("c/old2", "o2\n", 0644),
        file("c/olddir/z", "z\n", 0644),
        file("d", "file d\n", 0644),
        file("e/1", "e1\n", 0644),
        symlink("f", "a"),
        file("g", "file g\n", 0644),
        file("h/i/j/k/deep", "deep\n", 0644)));
    umoci.layer(ops(
        remove("a/gone"),
        remove("a/sub"),
        remove("b"),
        remove("c"),
        dir("c", 0700), // the same name, other content and mode
        file("c/new", "n\n", 0644),
        remove("d"),
        file("d/inside", "d is a directory now\n", 0644),
        remove("e"),
        file("e", "e is a file now\n", 0644),
        remove("f"),
        dir("f", 0711),
        file("f/real", "f is a directory now\n", 0644),
        remove("g"),
        symlink("g", "a/keep"),
        remove("h/i/j")));
    umoci.layer(ops(
        file("b/1", "back\n", 0644), // a deleted directory comes back
        remove("c"),
        file("a/gone", "again\n", 0600),
        remove("d"),
        // (a symlink into itself, like "/d/absolute", makes umoci 0.4.7 write a layer that neither
        // umoci nor lamina can apply: see directoryReplacedBySymlink)
        symlink("d", "/elsewhere/absolute"),
        remove("h")));
  }

  /** Hard links made, broken and extended across layers. */
  private static void hardLinks(Umoci umoci, Path scratch) throws Exception {
    umoci.layer(ops(
        file("data/a", "original\n", 0644),
        link("data/b", "data/a"),
        link("other/c", "data/a"),
        file("data/s", "setuid\n", 04755),
        link("data/s2", "data/s"),
        xattr("data/s", "user.k", "v"),
        file("lone", "lone\n", 0644)));
    umoci.layer(ops(
        file("data/a", "replaced\n", 0644), // b and c keep the old inode
        link("lone2", "lone"),
        link("other/d", "data/s2")));
    umoci.layer(ops(
        remove("other/c"),
        link("data/a2", "data/a"),
        file("lone", "lone changed\n", 0644)));
  }

  /**
   * Directory attributes changing without the directory being replaced: mode, owner, xattrs added,
   * changed and removed, on a subdirectory and on the root.
   */
  private static void directoryMetadata(Umoci umoci, Path scratch) throws Exception {
    umoci.layer(ops(
        file("d/f", "f\n", 0644),
        xattr("d", "user.a", "1"),
        xattr("d", "user.b", "2"),
        dir("e", 0700),
        chown("e", 1000, 1000)));
    umoci.layer(ops(
        removeXattr("d", "user.a"),
        xattr("d", "user.b", "changed"),
        chmod("e", 02770),
        chown("e", 1001, 1002),
        chmod(".", 0711),
        xattr(".", "user.root", "yes")));
    umoci.layer(ops(
        removeXattr("d", "user.b"),
        removeXattr(".", "user.root"),
        file("d/g", "g\n", 0644)));
  }

  /**
   * umoci 0.4.7's repack, when a directory became a symlink, writes the new symlink and then
   * whiteouts for the directory's old children <em>beneath the symlink</em>: {@code d -> target}
   * followed by {@code d/.wh.inside}. Both umoci's unpack and lamina resolve that whiteout's parent
   * through the symlink (inside the root) and delete {@code target/inside}, a file no layer
   * deleted. lamina agrees with the oracle here; the round trip records umoci's loss. (When the
   * symlink points into itself, e.g. {@code d -> /d/x}, both fail with ELOOP instead.)
   */
  private static void directoryReplacedBySymlink(Umoci umoci, Path scratch) throws Exception {
    umoci.layer(ops(
        file("d/inside", "under the directory\n", 0644),
        file("target/inside", "must survive\n", 0644)));
    umoci.layer(ops(
        remove("d"),
        symlink("d", "target")));
  }

  /**
   * A hand-made layer (GNU tar, added verbatim) with what umoci's repack never writes: an opaque
   * whiteout ({@code .wh..wh..opq}) among entries of the same directory, a whiteout of a path no
   * layer has, no "./" entry, and a file whose parent has no entry of its own. umoci packs one more
   * layer on top.
   */
  private static void handMadeOpaque(Umoci umoci, Path scratch) throws Exception {
    umoci.layer(ops(
        file("opq/old1", "old1\n", 0644),
        file("opq/old2", "old2\n", 0644),
        file("opq/sub/deep", "deep\n", 0644),
        file("opq/kept-name", "lower\n", 0644),
        xattr("opq", "user.keep", "1"),
        file("wh/gone", "gone\n", 0644),
        file("wh/keep", "keep\n", 0644),
        file("wh/gonedir/x", "x\n", 0644),
        dir("implicit", 0711),
        xattr("implicit", "user.i", "lower attributes must survive"),
        file("implicit/a", "a\n", 0644)));
    Path staging = scratch.resolve("staging-opaque");
    FsTree.apply(staging,
        dir("opq", 0755),
        xattr("opq", "user.keep", "1"),
        file("opq/new1", "new1\n", 0644),
        file("opq/.wh..wh..opq", "", 0644),
        dir("opq/sub", 0750),
        file("opq/sub/new2", "new2\n", 0644),
        file("opq/kept-name", "upper\n", 0600),
        file("wh/.wh.gone", "", 0644),
        file("wh/.wh.gonedir", "", 0644),
        file("wh/.wh.never-existed", "", 0644),
        file("implicit/added", "added\n", 0644));
    umoci.addRawLayer(tar(staging, scratch.resolve("opaque.tar"), List.of(
        "opq", "opq/new1", "opq/.wh..wh..opq", "opq/sub", "opq/sub/new2", "opq/kept-name",
        "wh/.wh.gone", "wh/.wh.gonedir", "wh/.wh.never-existed",
        "implicit/added")));
    umoci.layer(ops(
        file("opq/after", "after\n", 0644),
        file("wh/new", "new\n", 0644)));
  }

  /**
   * Whiteouts that come after an entry of the same name in the same layer. The image spec:
   * "Whiteout files MUST only apply to resources in lower/parent layers. Files that are present in
   * the same layer as a whiteout file can only be hidden by whiteout files in subsequent layers."
   * So {@code same/foo} keeps the upper content, and {@code same/bar} keeps what this layer put in
   * it while losing what the lower layer had.
   */
  private static void handMadeWhiteoutAfterEntry(Umoci umoci, Path scratch) throws Exception {
    umoci.layer(ops(
        file("same/foo", "lower foo\n", 0644),
        file("same/bar/lower", "lower\n", 0644),
        file("same/baz", "lower baz\n", 0644)));
    Path staging = scratch.resolve("staging-after");
    FsTree.apply(staging,
        dir("same", 0755),
        file("same/foo", "upper foo\n", 0644),
        file("same/.wh.foo", "", 0644),
        dir("same/bar", 0755),
        file("same/bar/upper", "upper\n", 0644),
        file("same/.wh.bar", "", 0644),
        file("same/.wh.baz", "", 0644));
    umoci.addRawLayer(tar(staging, scratch.resolve("after.tar"), List.of(
        "same", "same/foo", "same/.wh.foo", "same/bar", "same/bar/upper", "same/.wh.bar", "same/.wh.baz")));
  }

  // ------------------------------------------------------------------ building and applying

  /**
   * @param lastPacked the rootfs umoci packed as the top layer, or null when the top layer is hand-made
   */
  record Built(OciImage image, Path oracle, Path lastPacked) {}

  private Built build(Scenario scenario) throws Exception {
    Path scratch = Files.createDirectories(tmp.resolve("scratch"));
    Umoci umoci = Umoci.create(tmp.resolve("image"), TAG, scratch);
    scenario.recipe().build(umoci, scratch);
    OciImage image = OciImage.read(umoci.layout(), TAG);
    Path bundle = tmp.resolve("oracle");
    umoci.unpack(bundle);
    return new Built(image, bundle.resolve("rootfs"), umoci.lastPacked());
  }

  /** Applies one layer of the image onto {@code target}, checking the diff ID against the config. */
  private static AppliedLayer apply(OciImage image, OciImage.Layer layer, Path target, ApplyOptions options)
      throws IOException {
    Digest expected = Digest.parse(layer.diffId());
    AppliedLayer applied;
    try (InputStream in = Files.newInputStream(image.blob(layer.digest()))) {
      applied = new StreamApplier(StreamProcessors.builtIn())
          .apply(new LayerBlob(layer.mediaType(), in, expected, Map.of()), target, options);
    }
    assertThat(applied.diffId()).as("diff ID of layer %s", layer.digest()).isEqualTo(expected);
    assertThat(applied.compressedSize()).as("bytes read of layer %s", layer.digest()).isEqualTo(layer.size());
    return applied;
  }

  /**
   * Completes a new upper dir the way a snapshotter must before commit, once its parents are
   * committed. An implicit directory (created only as the parent of an entry) that the lower
   * layers have as a directory takes its owner, mode, xattrs and mtime from there; otherwise the
   * upper copy, 0755 root, would shadow them (DESIGN.md, "Parallel unpack").
   *
   * <p>One that no lower layer has and that holds nothing but whiteouts is removed: overlay
   * whiteouts need their parent in the upper dir, so lamina creates it, but a whiteout of nothing
   * is a no-op and its parent would otherwise appear in the merged view as a new, empty directory
   * that neither umoci nor a naive apply creates. umoci 0.4.7 writes such layers: a directory
   * replaced by a symlink, {@code d -> /nowhere/x}, followed by {@code d/.wh.inside}, which
   * lamina resolves through the symlink and so creates {@code nowhere/x} in the upper dir.
   */
  private void fixImplicitDirectories(List<String> implicit, Path upper, List<Path> lowers) throws IOException {
    if (implicit.isEmpty()) {
      return;
    }
    Path view = Files.createDirectories(tmp.resolve("lower-view-" + lowers.size()));
    Posix posix = Posix.get();
    try (Overlay mount = lowers.isEmpty() ? null : Overlay.readOnly(lowers, view, tmp.resolve("empty-lower"))) {
      for (String rel : implicit) { // parents come before their children
        Path dir = upper.resolve(rel);
        if (posix.lstatIfExists(dir).isEmpty()) {
          continue; // went with an implicit parent
        }
        Optional<FileStat> below = mount == null ? Optional.empty() : posix.lstatIfExists(view.resolve(rel));
        if (below.isEmpty() || !below.get().isDirectory()) {
          if (onlyWhiteouts(dir)) {
            removeTree(dir);
          }
          continue;
        }
        posix.lchown(dir, below.get().uid(), below.get().gid());
        posix.chmod(dir, below.get().permissions());
        for (String name : posix.listxattr(dir)) {
          if (!name.startsWith("trusted.overlay.")) {
            posix.removexattr(dir, name);
          }
        }
        for (String name : posix.listxattr(view.resolve(rel))) {
          Optional<byte[]> value = posix.getxattr(view.resolve(rel), name);
          if (value.isPresent()) {
            posix.setxattr(dir, name, value.get());
          }
        }
        posix.utimes(dir, below.get().mtimeNanos(), below.get().mtimeNanos());
      }
    }
  }

  /** Whether a directory holds, at any depth, nothing but directories and overlay whiteouts (0/0 char devices). */
  private static boolean onlyWhiteouts(Path dir) throws IOException {
    try (Stream<Path> children = Files.list(dir)) {
      for (Path child : (Iterable<Path>) children::iterator) {
        FileStat st = Posix.get().lstat(child);
        boolean whiteout = st.type() == FileStat.S_IFCHR && st.major() == 0 && st.minor() == 0;
        if (!(whiteout || st.isDirectory() && onlyWhiteouts(child))) {
          return false;
        }
      }
    }
    return true;
  }

  private static void removeTree(Path p) throws IOException {
    if (Posix.get().lstat(p).isDirectory()) {
      try (Stream<Path> children = Files.list(p)) {
        for (Path child : (Iterable<Path>) children::iterator) {
          removeTree(child);
        }
      }
    }
    Files.delete(p);
  }

  /** A read-only overlay of upper dirs (bottom first), unmounted on close. */
  private record Overlay(Path mountpoint) implements AutoCloseable {
    static Overlay readOnly(List<Path> layersBottomFirst, Path mountpoint, Path emptyLower) throws IOException {
      List<String> lowers = new ArrayList<>();
      for (int i = layersBottomFirst.size() - 1; i >= 0; i--) {
        lowers.add(layersBottomFirst.get(i).toString());
      }
      if (lowers.size() == 1) {
        // older kernels want two lower dirs when there is no upper dir
        lowers.add(Files.createDirectories(emptyLower).toString());
      }
      Commands.run("mount", "-t", "overlay", "overlay", "-o", "ro,lowerdir=" + String.join(":", lowers),
          mountpoint.toString()).check();
      return new Overlay(mountpoint);
    }

    @Override
    public void close() throws IOException {
      Commands.run("umount", mountpoint.toString()).check();
    }
  }

  // ------------------------------------------------------------------ helpers

  private static Umoci.RootfsChange ops(FsOp... ops) {
    return ops(List.of(ops));
  }

  private static Umoci.RootfsChange ops(List<FsOp> ops) {
    return rootfs -> FsTree.apply(rootfs, ops);
  }

  /**
   * {@link TreeAssert#assertSnapshotsEqual} on everything but the mtimes of directories.
   *
   * <p>Accepted deviation: umoci restores a directory's metadata after unpacking each entry into
   * it (the deferred {@code restoreMetadata} of the parent in {@code UnpackEntry}), so a directory
   * a layer writes into without an entry of its own keeps its older mtime. lamina, like
   * containerd's and Docker's appliers, sets the mtime of the directories a layer has entries for
   * and leaves any other directory it writes into at the time of the apply. Such layers are
   * common: umoci 0.4.7's repack leaves out a directory whose mtime changed within the same second
   * (its mtree compares whole seconds), e.g. {@code etc/b} without {@code etc/}, and hand-made
   * layers often list no parents. Regular files, symlinks, devices and fifos keep exact mtimes.
   */
  private static void assertSameTree(Path expected, Path actual, TreeSnapshot.Options options) throws IOException {
    TreeAssert.assertSnapshotsEqual(withoutDirectoryMtimes(TreeSnapshot.of(expected, options)),
        withoutDirectoryMtimes(TreeSnapshot.of(actual, options)));
  }

  private static TreeSnapshot withoutDirectoryMtimes(TreeSnapshot snapshot) {
    SortedMap<String, TreeSnapshot.Entry> entries = new TreeMap<>();
    snapshot.entries().forEach((path, e) -> entries.put(path, e.type() != TreeSnapshot.Type.DIR ? e
        : new TreeSnapshot.Entry(e.type(), e.permissions(), e.uid(), e.gid(), e.size(), e.sha256(), e.linkTarget(),
            e.major(), e.minor(), e.xattrs(), e.hardLinkGroup(), null)));
    return new TreeSnapshot(entries, snapshot.options());
  }

  private static TreeSnapshot.Options compareOptions() {
    return compareOptions(true);
  }

  private static TreeSnapshot.Options compareOptions(boolean mtimes) {
    TreeSnapshot.Options options = TreeSnapshot.Options.DEFAULT.ignoringXattrs("security.selinux");
    options = mtimes ? options.withMtimes() : options;
    return Root.isRoot() ? options : options.ignoringOwnership();
  }

  /** Sets file capabilities with setcap(8), or writes the same xattr when libcap2-bin is missing. */
  private static void setcap(Path file, String caps) throws IOException {
    if (Commands.succeeds("sh", "-c", "command -v setcap")) {
      Commands.run("setcap", caps, file.toString()).check();
    } else if (caps.equals("cap_net_raw+ep")) {
      Posix.get().setxattr(file, "security.capability", capabilityV2(13, true));
    } else {
      throw new IllegalArgumentException("no fallback for " + caps + " without setcap");
    }
  }

  /** A VFS_CAP_REVISION_2 security.capability value permitting one capability (bit below 32). */
  private static byte[] capabilityV2(int cap, boolean effective) {
    java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(20).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    b.putInt(0x02000000 | (effective ? 1 : 0));
    b.putInt(1 << cap); // permitted, low word
    b.putInt(0); // inheritable, low word
    b.putInt(0); // permitted, high word
    b.putInt(0); // inheritable, high word
    return b.array();
  }

  /** An uncompressed PAX tar of {@code names} under {@code dir}, in exactly that order (GNU tar, no recursion). */
  private static Path tar(Path dir, Path out, List<String> names) throws IOException {
    Path list = out.resolveSibling(out.getFileName() + ".list");
    Files.writeString(list, String.join("\n", names) + "\n", StandardCharsets.UTF_8);
    Commands.run("tar", "--format=pax", "--xattrs", "--xattrs-include=user.*", "--numeric-owner",
        "--no-recursion", "-C", dir.toString(), "-cf", out.toString(), "-T", list.toString()).check();
    return out;
  }

  private static Path projectRoot() {
    Path p = Path.of("").toAbsolutePath();
    for (Path q = p; q != null; q = q.getParent()) {
      if (Files.isRegularFile(q.resolve("bin/lamina")) && Files.isDirectory(q.resolve("e2e"))) {
        return q;
      }
    }
    return p.getParent() == null ? p : p.getParent();
  }
}
