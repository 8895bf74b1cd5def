package dev.lamina.fstest;

import static dev.lamina.fstest.FsTree.apply;
import static dev.lamina.fstest.FsTree.chardev;
import static dev.lamina.fstest.FsTree.chmod;
import static dev.lamina.fstest.FsTree.chown;
import static dev.lamina.fstest.FsTree.dir;
import static dev.lamina.fstest.FsTree.fifo;
import static dev.lamina.fstest.FsTree.file;
import static dev.lamina.fstest.FsTree.link;
import static dev.lamina.fstest.FsTree.mtime;
import static dev.lamina.fstest.FsTree.remove;
import static dev.lamina.fstest.FsTree.removeXattr;
import static dev.lamina.fstest.FsTree.symlink;
import static dev.lamina.fstest.FsTree.xattr;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.lamina.digest.Digest;
import dev.lamina.fstest.TreeSnapshot.Entry;
import dev.lamina.fstest.TreeSnapshot.Type;
import dev.lamina.posix.FileStat;
import dev.lamina.posix.Posix;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class FsTreeTest {
  @TempDir Path tmp;

  private Path root() throws IOException {
    return Files.createDirectories(tmp.resolve("root"));
  }

  private static FileStat lstat(Path p) throws IOException {
    return Posix.get().lstat(p);
  }

  @Test
  void modesAreExactWhateverTheUmask() throws Exception {
    // group/other write and the special bits are what a umask or plain mkdir would lose
    int[] modes = {0777, 0666, 04755, 02755, 06711, 01777, 0000};
    Path root = root();
    for (int mode : modes) {
      apply(root, dir("d" + Integer.toOctalString(mode), mode), file("f" + Integer.toOctalString(mode), "x", mode));
    }
    for (int mode : modes) {
      assertThat(lstat(root.resolve("d" + Integer.toOctalString(mode))).permissions()).as("dir %o", mode).isEqualTo(mode);
      assertThat(lstat(root.resolve("f" + Integer.toOctalString(mode))).permissions()).as("file %o", mode).isEqualTo(mode);
    }
  }

  @Test
  void createsMissingParents0755() throws Exception {
    Path root = root();
    apply(root, file("a/b/c/f", "x", 0600));
    for (String parent : List.of("a", "a/b", "a/b/c")) {
      FileStat st = lstat(root.resolve(parent));
      assertThat(st.isDirectory()).isTrue();
      assertThat(st.permissions()).as(parent).isEqualTo(0755);
    }
  }

  @Test
  void dirOnExistingDirectoryOnlyChangesItsMode() throws Exception {
    Path root = root();
    apply(root, file("a/f", "x", 0644), dir("a", 0700));
    assertThat(lstat(root.resolve("a")).permissions()).isEqualTo(0700);
    assertThat(root.resolve("a/f")).hasContent("x");
  }

  @Test
  void fileWritesContentAndByteVariant() throws Exception {
    Path root = root();
    byte[] binary = {0, 1, 2, (byte) 0xff};
    apply(root, file("t", "héllo\n", 0644), file("b", binary, 0644));
    assertThat(Files.readString(root.resolve("t"))).isEqualTo("héllo\n");
    assertThat(Files.readAllBytes(root.resolve("b"))).isEqualTo(binary);
  }

  @Test
  void fileReplacesASymlinkWithoutWritingThroughIt() throws Exception {
    Path root = root();
    Path victim = Files.writeString(tmp.resolve("victim"), "untouched");
    apply(root, symlink("l", victim.toString()), file("l", "new", 0644));
    assertThat(lstat(root.resolve("l")).isRegularFile()).isTrue();
    assertThat(root.resolve("l")).hasContent("new");
    assertThat(victim).hasContent("untouched");
  }

  @Test
  void fileBreaksAHardLinkLikeTarExtraction() throws Exception {
    Path root = root();
    apply(root, file("f", "old", 0644), link("h", "f"), file("f", "new", 0644));
    assertThat(root.resolve("h")).hasContent("old");
    assertThat(lstat(root.resolve("h")).nlink()).isEqualTo(1);
  }

  @Test
  void refusesAParentThatIsASymlink() throws Exception {
    Path root = root();
    Path outside = Files.createDirectories(tmp.resolve("outside"));
    apply(root, symlink("d", outside.toString()));
    assertThatThrownBy(() -> apply(root, file("d/x", "x", 0644))).isInstanceOf(IOException.class).hasMessageContaining("not a directory");
    assertThat(outside).isEmptyDirectory();
  }

  @Test
  void refusesToReplaceADirectoryImplicitly() throws Exception {
    Path root = root();
    apply(root, file("d/f", "x", 0644));
    assertThatThrownBy(() -> apply(root, file("d", "x", 0644))).isInstanceOf(IOException.class).hasMessageContaining("is a directory");
    assertThatThrownBy(() -> apply(root, symlink("d", "x"))).isInstanceOf(IOException.class);
    assertThat(root.resolve("d/f")).exists();
  }

  @Test
  void dirRefusesANonDirectory() throws Exception {
    Path root = root();
    apply(root, file("f", "x", 0644));
    assertThatThrownBy(() -> apply(root, dir("f", 0755))).isInstanceOf(IOException.class).hasMessageContaining("f");
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "/abs", "../up", "a/../b", "a//b", "a/./b", "a/", "nul\0"})
  void rejectsPathsThatAreNotPlainRelative(String path) {
    assertThatThrownBy(() -> file(path, "x", 0644)).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void rejectsModesWithTypeBits() {
    assertThatThrownBy(() -> file("f", "x", FileStat.S_IFREG | 0644)).isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void removeDeletesRecursivelyWithoutFollowingSymlinks() throws Exception {
    Path root = root();
    Path outside = Files.createDirectories(tmp.resolve("outside"));
    Files.writeString(outside.resolve("keep"), "k");
    apply(root, file("d/e/f", "x", 0644), symlink("d/out", outside.toString()), dir("d/ro", 0555), remove("d"));
    assertThat(Posix.get().lstatIfExists(root.resolve("d"))).isEmpty();
    assertThat(outside.resolve("keep")).hasContent("k");
  }

  @Test
  void removeOfMissingPathFails() throws Exception {
    Path root = root();
    assertThatThrownBy(() -> apply(root, remove("nope"))).isInstanceOf(IOException.class).hasMessageContaining("remove nope");
  }

  @Test
  void symlinkKeepsTargetVerbatim() throws Exception {
    Path root = root();
    apply(root, symlink("a/l", "../../../etc/passwd"));
    assertThat(Posix.get().readlink(root.resolve("a/l"))).isEqualTo("../../../etc/passwd");
  }

  @Test
  void linkSharesTheInode() throws Exception {
    Path root = root();
    apply(root, file("a/f", "x", 0640), link("b/h", "a/f"));
    FileStat f = lstat(root.resolve("a/f"));
    FileStat h = lstat(root.resolve("b/h"));
    assertThat(h.inode()).isEqualTo(f.inode());
    assertThat(f.nlink()).isEqualTo(2);
  }

  @Test
  void chmodOfASymlinkFails() throws Exception {
    Path root = root();
    apply(root, symlink("l", "x"));
    assertThatThrownBy(() -> apply(root, chmod("l", 0644))).isInstanceOf(IOException.class).hasMessageContaining("symlink");
  }

  @Test
  void xattrsAreSetAndRemovedOnThePathItself() throws Exception {
    Path root = root();
    Root.assumeUserXattrs(root);
    apply(root, file("f", "x", 0644), xattr("f", "user.a", "1"), xattr("f", "user.b", new byte[] {0, 1}), removeXattr("f", "user.a"));
    assertThat(Posix.get().listxattr(root.resolve("f"))).containsExactly("user.b");
    assertThat(Posix.get().getxattr(root.resolve("f"), "user.b")).contains(new byte[] {0, 1});
  }

  @Test
  void fifoIsCreatedWithItsMode() throws Exception {
    Path root = root();
    apply(root, fifo("p", 0640));
    assertThat(lstat(root.resolve("p")).isFifo()).isTrue();
    assertThat(lstat(root.resolve("p")).permissions()).isEqualTo(0640);
  }

  @Test
  void mtimeSetsTheEntryNotTheSymlinkTarget() throws Exception {
    Path root = root();
    long t = 1_600_000_000_123_456_789L;
    apply(root, file("f", "x", 0644), symlink("l", "f"), mtime("l", t));
    assertThat(lstat(root.resolve("l")).mtimeNanos()).isEqualTo(t);
    assertThat(lstat(root.resolve("f")).mtimeNanos()).isNotEqualTo(t);
  }

  @Test
  void failuresNameTheOp() throws Exception {
    Path root = root();
    assertThatThrownBy(() -> apply(root, chmod("missing", 0644))).hasMessageContaining("chmod missing 0644");
  }

  @Test
  void opsCompareByValue() {
    assertThat(file("f", "x", 0644)).isEqualTo(file("f", "x".getBytes(StandardCharsets.UTF_8), 0644)).isNotEqualTo(file("f", "y", 0644));
    assertThat(xattr("f", "user.k", "v")).isEqualTo(xattr("f", "user.k", "v")).hasSameHashCodeAs(xattr("f", "user.k", "v"));
    assertThat(file("f", "x", 04755)).hasToString("file f 4755 \"x\"");
  }

  // --- root only

  @Test
  void chownKeepsSetuidSetgidAndCapabilities() throws Exception {
    Root.assumeRoot("chown to another uid");
    Path root = root();
    apply(root, file("f", "x", 06755));
    // cap_net_bind_service permitted, VFS_CAP_REVISION_2: the kernel drops it on chown
    byte[] caps = HexFormat.of().parseHex("0000000200040000000000000000000000000000");
    Posix.get().setxattr(root.resolve("f"), "security.capability", caps);
    byte[] stored = Posix.get().getxattr(root.resolve("f"), "security.capability").orElseThrow();
    apply(root, chown("f", 1000, 1001));
    FileStat st = lstat(root.resolve("f"));
    assertThat(st.uid()).isEqualTo(1000);
    assertThat(st.gid()).isEqualTo(1001);
    assertThat(st.permissions()).isEqualTo(06755);
    assertThat(Posix.get().getxattr(root.resolve("f"), "security.capability")).contains(stored);
  }

  @Test
  void chownOfASymlinkChangesTheLinkOnly() throws Exception {
    Root.assumeRoot("chown to another uid");
    Path root = root();
    apply(root, file("f", "x", 0644), symlink("l", "f"), chown("l", 1234, 5678));
    assertThat(lstat(root.resolve("l")).uid()).isEqualTo(1234);
    assertThat(lstat(root.resolve("f")).uid()).isEqualTo(Posix.get().geteuid());
  }

  @Test
  void chardevHasItsNumbers() throws Exception {
    Root.assumeRoot("mknod of a char device");
    Path root = root();
    apply(root, chardev("dev/null", 1, 3, 0666));
    FileStat st = lstat(root.resolve("dev/null"));
    assertThat(st.isCharDevice()).isTrue();
    assertThat(st.major()).isEqualTo(1);
    assertThat(st.minor()).isEqualTo(3);
    assertThat(st.permissions()).isEqualTo(0666);
  }

  // --- TreeSnapshot

  @Test
  void snapshotRecordsEachTypeAndItsFields() throws Exception {
    Path root = root();
    Root.assumeUserXattrs(root);
    String content = "hello\n";
    apply(root, file("d/f", content, 0640), xattr("d/f", "user.k", "v"), symlink("l", "d/f"), fifo("p", 0600), dir("d", 0711));
    TreeSnapshot snap = TreeSnapshot.of(root);

    assertThat(snap.entries().keySet()).containsExactly("d", "d/f", "l", "p");
    Entry f = snap.get("d/f").orElseThrow();
    byte[] bytes = content.getBytes(StandardCharsets.UTF_8);
    assertThat(f.type()).isEqualTo(Type.FILE);
    assertThat(f.permissions()).isEqualTo(0640);
    assertThat(f.size()).isEqualTo(bytes.length);
    assertThat(f.sha256()).isEqualTo(Digest.sha256Of(bytes).hex());
    assertThat(f.xattrs()).containsExactlyEntriesOf(new TreeMap<>(Map.of("user.k", HexFormat.of().formatHex("v".getBytes(StandardCharsets.UTF_8)))));
    assertThat(f.uid()).isEqualTo(Posix.get().geteuid());
    assertThat(f.hardLinkGroup()).isNull();
    assertThat(f.mtimeSeconds()).isNull();

    Entry l = snap.get("l").orElseThrow();
    assertThat(l.type()).isEqualTo(Type.SYMLINK);
    assertThat(l.linkTarget()).isEqualTo("d/f");
    assertThat(l.sha256()).isNull();
    assertThat(snap.get("p").orElseThrow().type()).isEqualTo(Type.FIFO);
    assertThat(snap.get("d").orElseThrow().permissions()).isEqualTo(0711);
  }

  @Test
  void snapshotsOfTreesFromTheSameOpsAreEqualValues() throws Exception {
    List<FsOp> ops = List.of(file("a/f", "x", 04755), link("b/h", "a/f"), symlink("c", "a"), fifo("p", 0600));
    apply(tmp.resolve("one"), ops);
    apply(tmp.resolve("two"), ops);
    assertThat(TreeSnapshot.of(tmp.resolve("one"))).isEqualTo(TreeSnapshot.of(tmp.resolve("two")));
  }

  @Test
  void hardLinkGroupIsTheSmallestPathOfTheGroup() throws Exception {
    Path root = root();
    // created in an order where the first-made path is not the smallest
    List<String> group = List.of("m/orig", "z/link", "a/link");
    apply(root, file(group.get(0), "x", 0644), link(group.get(1), group.get(0)), link(group.get(2), group.get(0)), file("alone", "x", 0644));
    TreeSnapshot snap = TreeSnapshot.of(root);
    String smallest = new TreeSet<>(group).first();
    for (String path : group) {
      assertThat(snap.get(path).orElseThrow().hardLinkGroup()).as(path).isEqualTo(smallest);
    }
    assertThat(snap.get("alone").orElseThrow().hardLinkGroup()).isNull();
    assertThat(TreeSnapshot.of(root, TreeSnapshot.Options.DEFAULT.ignoringHardLinks()).get(group.get(1)).orElseThrow().hardLinkGroup()).isNull();
  }

  @Test
  void linksOutsideTheSnapshotDoNotFormAGroup() throws Exception {
    Path root = root();
    apply(root, file("in/f", "x", 0644), link("out/h", "in/f"));
    assertThat(TreeSnapshot.of(root.resolve("in")).get("f").orElseThrow().hardLinkGroup()).isNull();
  }

  @Test
  void rootIsLeftOutUnlessAsked() throws Exception {
    Path root = root();
    apply(root, file("f", "x", 0644), chmod(".", 0711));
    assertThat(TreeSnapshot.of(root).entries()).doesNotContainKey(".");
    Entry dot = TreeSnapshot.of(root, TreeSnapshot.Options.DEFAULT.includingRoot()).get(".").orElseThrow();
    assertThat(dot.type()).isEqualTo(Type.DIR);
    assertThat(dot.permissions()).isEqualTo(0711);
  }

  @Test
  void optionsLeaveOutOwnershipAndXattrPrefixesAndAddMtimes() throws Exception {
    Path root = root();
    Root.assumeUserXattrs(root);
    long t = 1_500_000_000_999_999_999L;
    apply(root, file("f", "x", 0644), xattr("f", "user.keep", "1"), xattr("f", "user.skip.me", "2"), mtime("f", t));
    TreeSnapshot.Options options = TreeSnapshot.Options.DEFAULT.ignoringOwnership().ignoringXattrs("user.skip").withMtimes();
    Entry f = TreeSnapshot.of(root, options).get("f").orElseThrow();
    assertThat(f.uid()).isNull();
    assertThat(f.gid()).isNull();
    assertThat(f.xattrs()).containsOnlyKeys("user.keep");
    assertThat(f.mtimeSeconds()).isEqualTo(Math.floorDiv(t, 1_000_000_000L));
  }

  @Test
  void snapshotIsImmutable() throws Exception {
    Path root = root();
    apply(root, file("f", "x", 0644));
    TreeSnapshot snap = TreeSnapshot.of(root);
    assertThatThrownBy(() -> snap.entries().clear()).isInstanceOf(UnsupportedOperationException.class);
    Set<String> keys = snap.entries().keySet();
    assertThatThrownBy(() -> keys.remove("f")).isInstanceOf(UnsupportedOperationException.class);
  }
}
