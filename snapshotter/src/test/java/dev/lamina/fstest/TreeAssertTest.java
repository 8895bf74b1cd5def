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
import static dev.lamina.fstest.FsTree.octal;
import static dev.lamina.fstest.FsTree.remove;
import static dev.lamina.fstest.FsTree.removeXattr;
import static dev.lamina.fstest.FsTree.symlink;
import static dev.lamina.fstest.FsTree.xattr;
import static dev.lamina.fstest.TreeAssert.assertTreesEqual;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.lamina.digest.Digest;
import dev.lamina.fstest.TreeSnapshot.Options;
import dev.lamina.posix.Posix;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.opentest4j.AssertionFailedError;

class TreeAssertTest {
  private static final String CONF = "etc/conf";
  private static final String CONF_TEXT = "key=value\n";
  private static final int CONF_MODE = 0644;
  private static final String TOOL = "usr/bin/tool";
  private static final String TOOL2 = "usr/bin/tool2";
  private static final String TOOL_TEXT = "#!/bin/sh\n";
  private static final int TOOL_MODE = 04755;
  private static final String BIN_TARGET = "usr/bin";

  @TempDir Path tmp;
  /** The trees of the last {@link #differences} call, fresh for each call. */
  private Path expected;
  private Path actual;

  /** A small tree with one of each kind that needs no root. */
  private static List<FsOp> base() {
    return List.of(
        dir("etc", 0755),
        file(CONF, CONF_TEXT, CONF_MODE),
        xattr(CONF, "user.k", "v1"),
        dir("usr/bin", 0755),
        file(TOOL, TOOL_TEXT, TOOL_MODE),
        link(TOOL2, TOOL),
        symlink("bin", BIN_TARGET),
        dir("tmp", 01777),
        fifo("run/ctl", 0600));
  }

  @BeforeEach
  void needsUserXattrs() throws IOException {
    Root.assumeUserXattrs(tmp);
  }

  /** Differences between the base tree (expected) and the base tree plus {@code tweak} (actual). */
  private List<String> differences(List<FsOp> tweak, Options options) throws IOException {
    expected = Files.createTempDirectory(tmp, "expected");
    actual = Files.createTempDirectory(tmp, "actual");
    apply(expected, base());
    apply(actual, FsTree.concat(base(), tweak));
    return TreeSnapshot.of(expected, options).differences(TreeSnapshot.of(actual, options));
  }

  static Stream<Arguments> oneDifference() {
    String confHex = sha256(CONF_TEXT);
    String sameSize = "k".repeat(CONF_TEXT.length());
    return Stream.of(
        Arguments.of("mode", List.of(chmod(CONF, 0600)), CONF + ": mode " + octal(CONF_MODE) + " != " + octal(0600)),
        Arguments.of("setuid bit", List.of(chmod(CONF, CONF_MODE | 04000)), CONF + ": mode " + octal(CONF_MODE) + " != " + octal(CONF_MODE | 04000)),
        Arguments.of("setgid bit", List.of(chmod("usr/bin", 02755)), "usr/bin: mode " + octal(0755) + " != " + octal(02755)),
        Arguments.of("sticky bit", List.of(chmod("tmp", 0777)), "tmp: mode " + octal(01777) + " != " + octal(0777)),
        Arguments.of("content, same size", List.of(file(CONF, sameSize, CONF_MODE), xattr(CONF, "user.k", "v1")),
            CONF + ": content " + CONF_TEXT.length() + " bytes sha256:" + confHex.substring(0, 12) + " != " + sameSize.length() + " bytes sha256:"
                + sha256(sameSize).substring(0, 12)),
        Arguments.of("symlink target", List.of(symlink("bin", "usr/sbin")), "bin: symlink target \"" + BIN_TARGET + "\" != \"usr/sbin\""),
        Arguments.of("xattr value", List.of(xattr(CONF, "user.k", "v2")), CONF + ": xattr user.k \"v1\" != \"v2\""),
        Arguments.of("xattr only in actual", List.of(xattr(CONF, "user.new", "n")), CONF + ": xattr user.new only in actual (\"n\")"),
        Arguments.of("xattr only in expected", List.of(removeXattr(CONF, "user.k")), CONF + ": xattr user.k only in expected (\"v1\")"),
        Arguments.of("missing path", List.of(remove("run/ctl")), "only in expected: run/ctl (fifo)"),
        Arguments.of("extra path", List.of(file("etc/new", "n", 0644)), "only in actual: etc/new (file)"),
        Arguments.of("type file vs dir", List.of(remove(CONF), dir(CONF, CONF_MODE)), CONF + ": type file != dir"),
        Arguments.of("type symlink vs file", List.of(file("bin", "x", 0777)), "bin: type symlink != file"),
        Arguments.of("type fifo vs file", List.of(file("run/ctl", "", 0600)), "run/ctl: type fifo != file"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("oneDifference")
  void reportsExactlyTheOneDifference(String kind, List<FsOp> tweak, String line) throws IOException {
    assertThat(differences(tweak, Options.DEFAULT)).containsExactly(line);
    assertThatThrownBy(() -> assertTreesEqual(expected, actual))
        .isInstanceOf(AssertionFailedError.class)
        .hasMessageContaining("differ in 1 way")
        .hasMessageContaining("\n  " + line);
  }

  @Test
  void passesForTwoTreesBuiltFromTheSameOps() throws IOException {
    assertThat(differences(List.of(), Options.DEFAULT.withMtimes().includingRoot())).filteredOn(l -> !l.contains(": mtime ")).isEmpty();
    assertTreesEqual(expected, actual);
  }

  @Test
  void reportsHardLinkGrouping() throws IOException {
    // same content and mode, but two inodes instead of one
    List<String> diffs = differences(List.of(remove(TOOL2), file(TOOL2, TOOL_TEXT, TOOL_MODE)), Options.DEFAULT);
    String smallest = TOOL.compareTo(TOOL2) < 0 ? TOOL : TOOL2;
    assertThat(diffs).containsExactly(TOOL + ": hard-link group " + smallest + " != (none)", TOOL2 + ": hard-link group " + smallest + " != (none)");
    assertThat(differences(List.of(remove(TOOL2), file(TOOL2, TOOL_TEXT, TOOL_MODE)), Options.DEFAULT.ignoringHardLinks())).isEmpty();
  }

  @Test
  void missingDirectoryIsOneLineWithACount() throws IOException {
    List<String> diffs = differences(List.of(remove("usr")), Options.DEFAULT);
    long beneath = TreeSnapshot.of(expected).entries().keySet().stream().filter(p -> p.startsWith("usr/")).count();
    assertThat(diffs).containsExactly("only in expected: usr (dir, " + beneath + " entries beneath)");
  }

  @Test
  void fileReplacedByDirectoryCountsWhatIsBeneath() throws IOException {
    List<String> diffs = differences(List.of(remove(CONF), file(CONF + "/a", "a", 0644), file(CONF + "/b", "b", 0644)), Options.DEFAULT);
    assertThat(diffs).containsExactly(CONF + ": type file != dir (2 entries beneath only in actual)");
  }

  @Test
  void mtimesAreComparedOnlyWhenAsked() throws IOException {
    long t = 1_000_000_000_000_000_000L;
    List<FsOp> touch = List.of(mtime(CONF, t));
    assertThat(differences(touch, Options.DEFAULT)).isEmpty();
    assertThat(differences(touch, Options.DEFAULT.withMtimes())).filteredOn(l -> l.startsWith(CONF + ":"))
        .singleElement().asString().startsWith(CONF + ": mtime ").endsWith(" != " + t / 1_000_000_000L);
  }

  @Test
  void ignoredXattrPrefixesAreNotCompared() throws IOException {
    List<FsOp> tweak = List.of(xattr(CONF, "user.k", "v2"));
    assertThat(differences(tweak, Options.DEFAULT.ignoringXattrs("user.k"))).isEmpty();
  }

  @Test
  void rootIsComparedOnlyWhenIncluded() throws IOException {
    List<FsOp> tweak = List.of(chmod(".", 0711));
    assertThat(differences(tweak, Options.DEFAULT)).isEmpty();
    int rootMode = Posix.get().lstat(expected).permissions();
    assertThat(differences(tweak, Options.DEFAULT.includingRoot())).containsExactly(".: mode " + octal(rootMode) + " != " + octal(0711));
  }

  @Test
  void messageListsEveryKindAndIsCapped() throws IOException {
    List<FsOp> tweak = new ArrayList<>();
    int extra = TreeAssert.MAX_LINES + 7;
    for (int i = 0; i < extra; i++) {
      tweak.add(file(String.format("many/f%03d", i), "x", 0644));
    }
    tweak.add(chmod(CONF, 0600));
    List<String> diffs = differences(tweak, Options.DEFAULT);
    // "many" collapses to one line: make the children visible by creating the dir in both trees
    assertThat(diffs).hasSize(2);

    apply(expected, dir("many", 0755));
    List<String> all = TreeSnapshot.of(expected).differences(TreeSnapshot.of(actual));
    assertThat(all).hasSize(extra + 1);
    assertThatThrownBy(() -> assertTreesEqual(expected, actual))
        .isInstanceOf(AssertionFailedError.class)
        .hasMessageContaining(expected + " and " + actual)
        .hasMessageContaining("differ in " + all.size() + " ways")
        .hasMessageContaining("\n  " + all.get(0))
        .hasMessageContaining("\n  " + all.get(TreeAssert.MAX_LINES - 1))
        .hasMessageNotContaining(all.get(TreeAssert.MAX_LINES))
        .hasMessageEndingWith("... and " + (all.size() - TreeAssert.MAX_LINES) + " more");
  }

  @Test
  void snapshotsWithDifferentOptionsDoNotCompare() throws IOException {
    apply(tmp.resolve("t"), base());
    TreeSnapshot plain = TreeSnapshot.of(tmp.resolve("t"));
    TreeSnapshot timed = TreeSnapshot.of(tmp.resolve("t"), Options.DEFAULT.withMtimes());
    assertThatThrownBy(() -> plain.differences(timed)).isInstanceOf(IllegalArgumentException.class);
    TreeAssert.assertSnapshotsEqual(plain, TreeSnapshot.of(tmp.resolve("t")));
  }

  // --- root only

  @Test
  void reportsOwner() throws IOException {
    Root.assumeRoot("chown to another uid");
    List<String> diffs = differences(List.of(chown(CONF, 1000, 1001)), Options.DEFAULT);
    int uid = Posix.get().lstat(expected.resolve(CONF)).uid();
    int gid = Posix.get().lstat(expected.resolve(CONF)).gid();
    assertThat(diffs).containsExactly(CONF + ": owner " + uid + ":" + gid + " != 1000:1001");
    assertThat(differences(List.of(chown(CONF, 1000, 1001)), Options.DEFAULT.ignoringOwnership())).isEmpty();
  }

  @Test
  void reportsSymlinkOwner() throws IOException {
    Root.assumeRoot("lchown to another uid");
    assertThat(differences(List.of(chown("bin", 7, 8)), Options.DEFAULT)).singleElement().asString().startsWith("bin: owner ").endsWith(" != 7:8");
  }

  @Test
  void reportsDeviceNumbers() throws IOException {
    Root.assumeRoot("mknod of a char device");
    expected = tmp.resolve("expected");
    actual = tmp.resolve("actual");
    apply(expected, chardev("dev/null", 1, 3, 0666));
    apply(actual, chardev("dev/null", 1, 5, 0666));
    assertThat(TreeSnapshot.of(expected).differences(TreeSnapshot.of(actual))).containsExactly("dev/null: device 1:3 != 1:5");
  }

  private static String sha256(String text) {
    return Digest.sha256Of(text.getBytes(StandardCharsets.UTF_8)).hex();
  }
}
