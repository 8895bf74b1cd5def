package dev.lamina.archive;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.fail;

import com.github.luben.zstd.ZstdOutputStream;
import dev.lamina.diff.LayerBlob;
import dev.lamina.diff.StreamApplier;
import dev.lamina.digest.Digest;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.fstest.FsOp;
import dev.lamina.fstest.FsTree;
import dev.lamina.fstest.Root;
import dev.lamina.fstest.TreeAssert;
import dev.lamina.fstest.TreeSnapshot;
import dev.lamina.posix.Posix;
import dev.lamina.processor.StreamProcessors;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Hostile layers: each row is a tar the test builds, a sandbox layout, and either the error the
 * apply must fail with or a validator of what it must have done. Every row also checks that
 * nothing outside the root changed.
 *
 * <p>The sandbox is {@code TMP/sandbox} with {@code root/} (the apply target) and {@code outside/}
 * (canaries with old mtimes). The root starts with symlinks that point out of it: {@code out ->
 * ../outside}, {@code absout -> /abs/path/of/outside}, {@code evil -> /abs/.../outside/canary} and
 * {@code relevil -> ../outside/canary}. Before and after the apply the whole of TMP except
 * {@code sandbox/root} is snapshotted with mtimes and compared, and the link count of every path
 * under {@code outside/} must be unchanged.
 */
class HostileTarTest {
  /** 2001-09-09: any write outside moves an mtime to "now", which the snapshot sees. */
  private static final long OLD = 1_000_000_000L * 1_000_000_000L;
  private static final String PWNED = "lamina-hostile-pwned\n";
  private static final String CANARY = "canary\n";
  private static final ApplyOptions HOSTILE = new ApplyOptions(WhiteoutMode.NAIVE, false, false);
  private static final ApplyOptions OVERLAY = new ApplyOptions(WhiteoutMode.OVERLAY, false, false);
  private static final Posix POSIX = Posix.get();

  @TempDir Path tmp;

  /** The paths of one row's sandbox. */
  record Sandbox(Path tmp, Path sandbox, Path root, Path outside) {
    String outsideAbs() {
      return outside.toString();
    }

    /** Where an absolute path lands when the root is treated as {@code /}. */
    Path rooted(String absolute) {
      return root.resolve(absolute.substring(1));
    }
  }

  @FunctionalInterface
  interface TarSource {
    byte[] bytes(Sandbox s) throws IOException;
  }

  @FunctionalInterface
  interface DigestSource {
    Digest digest(Sandbox s) throws IOException;
  }

  @FunctionalInterface
  interface Check {
    void check(Sandbox s) throws IOException;
  }

  @FunctionalInterface
  interface Layout {
    List<FsOp> ops(Sandbox s);
  }

  enum Via {
    /** {@code new TarApplier(options).apply(tar, root)} */
    TAR_APPLIER,
    /** {@link StreamApplier} with the built-in processors: sniffed decompression, read-ahead, diff ID. */
    STREAM_APPLIER
  }

  /**
   * One hostile layer.
   *
   * @param kind the error the apply must fail with, or null when it must succeed
   * @param fragments what the error message must contain (the offending entry, as a rule)
   * @param check run after the apply either way: what must (not) be in the root
   * @param sharesOutsideInode the layout links a root path to an outside inode on purpose, so the
   *     layer may drop that link: outside link counts may only fall and hard-link groups are not
   *     compared
   */
  record Row(
      String name,
      Layout layout,
      TarSource tar,
      Via via,
      DigestSource expectedDiffId,
      ApplyOptions options,
      String needsRoot,
      ErrorKind kind,
      List<String> fragments,
      Check check,
      boolean sharesOutsideInode) {
    @Override
    public String toString() {
      return name;
    }

    Row layout(Layout more) {
      Layout base = layout;
      return new Row(name, s -> concat(base.ops(s), more.ops(s)), tar, via, expectedDiffId, options, needsRoot,
          kind, fragments, check, sharesOutsideInode);
    }

    Row tar(TarSource t) {
      return new Row(name, layout, t, via, expectedDiffId, options, needsRoot, kind, fragments, check,
          sharesOutsideInode);
    }

    Row tar(byte[] t) {
      return tar(s -> t);
    }

    Row stream() {
      return new Row(name, layout, tar, Via.STREAM_APPLIER, expectedDiffId, options, needsRoot, kind, fragments,
          check, sharesOutsideInode);
    }

    Row expectedDiffId(DigestSource diffIdOf) {
      return new Row(name, layout, tar, Via.STREAM_APPLIER, diffIdOf, options, needsRoot, kind, fragments, check,
          sharesOutsideInode);
    }

    Row options(ApplyOptions o) {
      return new Row(name, layout, tar, via, expectedDiffId, o, needsRoot, kind, fragments, check,
          sharesOutsideInode);
    }

    Row needsRoot(String why) {
      return new Row(name, layout, tar, via, expectedDiffId, options, why, kind, fragments, check,
          sharesOutsideInode);
    }

    Row fails(ErrorKind k, String... mustContain) {
      return new Row(name, layout, tar, via, expectedDiffId, options, needsRoot, k, List.of(mustContain), check,
          sharesOutsideInode);
    }

    Row then(Check c) {
      return new Row(name, layout, tar, via, expectedDiffId, options, needsRoot, kind, fragments, c,
          sharesOutsideInode);
    }

    Row linkedOutside() {
      return new Row(name, layout, tar, via, expectedDiffId, options, needsRoot, kind, fragments, check, true);
    }
  }

  static Row row(String name) {
    return new Row(name, HostileTarTest::defaultRoot, null, Via.TAR_APPLIER, null, HOSTILE, null, null, List.of(),
        s -> {}, false);
  }

  /** Links planted in the root that point out of it. */
  static List<FsOp> defaultRoot(Sandbox s) {
    return List.of(
        FsTree.symlink("out", "../outside"),
        FsTree.symlink("absout", s.outsideAbs()),
        FsTree.symlink("evil", s.outsideAbs() + "/canary"),
        FsTree.symlink("relevil", "../outside/canary"));
  }

  static List<FsOp> outsideLayout() {
    return List.of(
        FsTree.file("canary", CANARY, 0644),
        FsTree.file("passwd", "root:x:0:0:root:/root:/bin/sh\n", 0644),
        FsTree.file("dir/keep", "keep\n", 0600),
        FsTree.file("dir/sub/deep", "deep\n", 0644),
        FsTree.dir("empty", 0755),
        FsTree.mtime("canary", OLD),
        FsTree.mtime("passwd", OLD),
        FsTree.mtime("dir/keep", OLD),
        FsTree.mtime("dir/sub/deep", OLD),
        FsTree.mtime("dir/sub", OLD),
        FsTree.mtime("dir", OLD),
        FsTree.mtime("empty", OLD),
        FsTree.mtime(".", OLD));
  }

  // ---------------------------------------------------------------------------------------------
  // The rows

  static Stream<Row> rows() {
    List<Row> rows = new ArrayList<>();

    // --- names that climb out or are absolute
    rows.add(row("dotdot file ../x").tar(tar().file("../x", PWNED).build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"../x\"", "escapes"));
    rows.add(row("dotdot after a component a/../../x").tar(tar().file("a/../../x", PWNED).build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"a/../../x\""));
    rows.add(row("dotdot after dot ./../x").tar(tar().file("./../x", PWNED).build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"./../x\""));
    rows.add(row("deep dotdot a/b/../../../outside/canary")
        .tar(tar().dir("a/").dir("a/b/").file("a/b/../../../outside/canary", PWNED).build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"a/b/../../../outside/canary\""));
    rows.add(row("dotdot directory ../newdir/").tar(tar().dir("../newdir/").build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"../newdir/\""));
    rows.add(row("dotdot symlink ../l").tar(tar().symlink("../l", "/").build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"../l\""));
    rows.add(row("absolute /etc/x").tar(tar().file("/etc/lamina-hostile-x", PWNED).build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"/etc/lamina-hostile-x\"", "absolute")
        .then(s -> assertThat(Path.of("/etc/lamina-hostile-x")).doesNotExist()));
    rows.add(row("absolute path of the outside dir").tar(s -> tar().file(s.outsideAbs() + "/canary", PWNED).build())
        .fails(ErrorKind.INVALID_ARGUMENT, "outside/canary\"", "absolute"));
    rows.add(row("dotdot hidden in PAX path").tar(tar()
            .raw(TarBuilder.rawPax(TarBuilder.records("path", "../outside/canary")))
            .raw(TarBuilder.rawHeader("harmless", '0', PWNED.length(), ""))
            .rawContent(PWNED.getBytes(StandardCharsets.UTF_8)).build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"../outside/canary\""));
    rows.add(row("dotdot hidden in GNU long name").tar(tar()
            .raw(TarBuilder.rawHeader("././@LongLink", 'L', "../outside/canary".length() + 1, ""))
            .rawContent("../outside/canary\0".getBytes(StandardCharsets.UTF_8))
            .raw(TarBuilder.rawHeader("harmless", '0', PWNED.length(), ""))
            .rawContent(PWNED.getBytes(StandardCharsets.UTF_8)).build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"../outside/canary\""));
    rows.add(row("dotdot in the ustar prefix field").tar(tar().raw(withPrefix(
            TarBuilder.rawHeader("canary", '0', PWNED.length(), ""), "../outside"))
            .rawContent(PWNED.getBytes(StandardCharsets.UTF_8)).build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"../outside/canary\""));

    // --- symlinked parents
    rows.add(row("tar symlink parent to the absolute outside path, then a file through it")
        .tar(s -> tar().symlink("a", s.outsideAbs()).file("a/passwd", PWNED).build())
        .then(s -> {
          assertSymlink(s.root.resolve("a"), s.outsideAbs());
          assertFile(s.rooted(s.outsideAbs()).resolve("passwd"), PWNED);
        }));
    rows.add(row("tar symlink parent a -> /etc, then a/passwd")
        .tar(tar().symlink("a", "/etc").file("a/passwd", PWNED).build())
        .then(s -> {
          assertFile(s.root.resolve("etc/passwd"), PWNED);
          assertThat(Files.readString(Path.of("/etc/passwd"))).doesNotContain(PWNED.strip());
        }));
    rows.add(row("planted relative symlink parent out -> ../outside")
        .tar(tar().file("out/canary", PWNED).file("out/dir/keep", PWNED).build())
        .then(s -> {
          assertSymlink(s.root.resolve("out"), "../outside");
          assertFile(s.root.resolve("outside/canary"), PWNED);
          assertFile(s.root.resolve("outside/dir/keep"), PWNED);
        }));
    rows.add(row("planted absolute symlink parent absout -> outside")
        .tar(tar().file("absout/canary", PWNED).dir("absout/dir/").fifo("absout/dir/sub").build())
        .then(s -> {
          assertFile(s.rooted(s.outsideAbs()).resolve("canary"), PWNED);
          assertThat(POSIX.lstat(s.rooted(s.outsideAbs()).resolve("dir/sub")).isFifo()).isTrue();
        }));
    rows.add(row("tar symlink l -> ../outside then l/canary")
        .tar(tar().symlink("l", "../outside").file("l/canary", PWNED).build())
        .then(s -> assertFile(s.root.resolve("outside/canary"), PWNED)));
    rows.add(row("symlink chain l1 -> l2 -> ../.. then l1/outside/canary")
        .tar(tar().symlink("l1", "l2").symlink("l2", "../..").file("l1/outside/canary", PWNED).build())
        .then(s -> assertFile(s.root.resolve("outside/canary"), PWNED)));
    rows.add(row("symlink chain through a subdirectory d/l -> ../../../outside")
        .tar(tar().dir("d/").symlink("d/l", "../../../outside").symlink("top", "d/l")
            .file("top/dir/keep", PWNED).build())
        .then(s -> assertFile(s.root.resolve("outside/dir/keep"), PWNED)));
    rows.add(row("symlink loop parent l -> l").tar(tar().symlink("l", "l").file("l/x", PWNED).build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"l/x\"", "too many levels"));
    rows.add(row("symlink loop parent a -> b -> a").tar(tar().symlink("a", "b").symlink("b", "a")
            .file("a/x", PWNED).build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"a/x\"", "too many levels"));
    rows.add(row("parent is a regular file").tar(tar().file("f", "x").file("f/x", PWNED).build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"f/x\"", "not a directory"));

    // --- the final component is never followed
    rows.add(row("regular file replaces planted symlink evil -> outside/canary")
        .tar(tar().file("evil", PWNED).file("relevil", PWNED).build())
        .then(s -> {
          assertFile(s.root.resolve("evil"), PWNED);
          assertFile(s.root.resolve("relevil"), PWNED);
        }));
    rows.add(row("tar symlink then regular file of the same name")
        .tar(s -> tar().symlink("s", s.outsideAbs() + "/canary").file("s", PWNED).build())
        .then(s -> assertFile(s.root.resolve("s"), PWNED)));
    rows.add(row("directory entry over planted symlink to outside")
        .tar(tar().dir("out/", 0700).dir("absout/", 0700).file("out/canary", PWNED).build())
        .then(s -> {
          assertThat(POSIX.lstat(s.root.resolve("out")).isDirectory()).isTrue();
          assertThat(POSIX.lstat(s.root.resolve("out")).permissions()).isEqualTo(0700);
          assertThat(POSIX.lstat(s.root.resolve("absout")).isDirectory()).isTrue();
          assertFile(s.root.resolve("out/canary"), PWNED);
        }));
    rows.add(row("fifo and symlink entries over planted symlinks to outside")
        .tar(tar().fifo("evil").symlink("relevil", "/").build())
        .then(s -> {
          assertThat(POSIX.lstat(s.root.resolve("evil")).isFifo()).isTrue();
          assertSymlink(s.root.resolve("relevil"), "/");
        }));
    rows.add(row("regular file over a planted hard link to an outside file")
        .layout(s -> List.of())
        .tar(tar().file("hl", PWNED).build())
        .linkedOutside()
        .then(s -> {
          assertFile(s.root.resolve("hl"), PWNED);
          assertFile(s.outside.resolve("canary"), CANARY);
        }));

    // --- hard links
    rows.add(row("hard link to ../outside/canary").tar(tar().hardlink("h", "../outside/canary").build())
        .fails(ErrorKind.INVALID_ARGUMENT, "h \"../outside/canary\"", "escapes"));
    rows.add(row("hard link to the absolute outside path")
        .tar(s -> tar().hardlink("h", s.outsideAbs() + "/canary").build())
        .fails(ErrorKind.INVALID_ARGUMENT, "outside/canary\"", "absolute"));
    rows.add(row("hard link through planted absolute symlink dir absout/canary")
        .tar(tar().hardlink("h", "absout/canary").build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"h\"", "\"absout/canary\" does not exist"));
    rows.add(row("hard link through planted relative symlink dir resolves to the inside decoy")
        .layout(s -> List.of(FsTree.file("outside/canary", "decoy\n", 0644)))
        .tar(tar().hardlink("h", "out/canary").build())
        .then(s -> {
          assertFile(s.root.resolve("h"), "decoy\n");
          assertThat(POSIX.lstat(s.root.resolve("h")).inode())
              .isEqualTo(POSIX.lstat(s.root.resolve("outside/canary")).inode());
        }));
    rows.add(row("hard link through tar symlink dir to outside")
        .tar(s -> tar().symlink("l", s.outsideAbs()).hardlink("h", "l/canary").build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"h\"", "does not exist"));
    rows.add(row("hard link to a planted symlink that points outside links the symlink")
        .tar(tar().hardlink("h", "evil").build())
        .then(s -> {
          assertSymlink(s.root.resolve("h"), s.outsideAbs() + "/canary");
          assertThat(POSIX.lstat(s.root.resolve("h")).nlink()).isEqualTo(2);
        }));
    rows.add(row("hard link to a directory").tar(tar().dir("d/").hardlink("h", "d").build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"h\"", "is a directory"));
    rows.add(row("hard link to the outside directory through symlink").tar(tar().hardlink("h", "out").build())
        .then(s -> assertSymlink(s.root.resolve("h"), "../outside")));
    rows.add(row("hard link to a missing file").tar(tar().hardlink("h", "nope").build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"h\"", "does not exist"));
    rows.add(row("hard link to the root").tar(tar().hardlink("h", "./").build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"h\"", "root"));
    rows.add(row("hard link with NUL in PAX linkpath").tar(tar()
            .raw(TarBuilder.rawPax(TarBuilder.records("linkpath", "x\0/../../outside/canary")))
            .raw(TarBuilder.rawHeader("h", '1', 0, "x")).build())
        .fails(ErrorKind.INVALID_ARGUMENT, "h", "NUL"));

    // --- whiteouts
    rows.add(row("whiteout ../outside/.wh.canary").tar(tar().file("../outside/.wh.canary", "").build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"../outside/.wh.canary\""));
    rows.add(row("whiteout through planted symlink dirs out/.wh.canary, absout/.wh.dir")
        .tar(tar().file("out/.wh.canary", "").file("absout/.wh.dir", "").file("absout/dir/.wh.keep", "").build())
        .then(s -> {
          assertSymlink(s.root.resolve("out"), "../outside");
          assertSymlink(s.root.resolve("absout"), s.outsideAbs());
        }));
    rows.add(row("whiteout through planted symlink dir removes only the inside decoy")
        .layout(s -> List.of(FsTree.file("outside/canary", "decoy\n", 0644)))
        .tar(tar().file("out/.wh.canary", "").build())
        .then(s -> assertThat(s.root.resolve("outside/canary")).doesNotExist()));
    rows.add(row("whiteout of a planted symlink removes the link, not its target")
        .tar(tar().file(".wh.evil", "").file(".wh.out", "").build())
        .then(s -> {
          assertThat(s.root.resolve("evil")).doesNotExist();
          assertThat(s.root.resolve("out")).doesNotExist();
        }));
    rows.add(row("whiteout names .. (.wh...)").tar(tar().file("d/.wh...", "").build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"d/.wh...\"", "names no file"));
    rows.add(row("opaque marker in planted symlink dirs to outside")
        .tar(tar().file("out/.wh..wh..opq", "").file("absout/dir/.wh..wh..opq", "").build())
        .then(s -> assertThat(s.root.resolve("outside")).isDirectory()));
    // The deferred end-of-layer work (NAIVE opaque clearing, directory mtimes) must not re-resolve
    // stale absolute paths through a parent that a later entry replaced with a symlink.
    rows.add(row("opaque directory whose parent is then replaced by a symlink to outside")
        .tar(tar().dir("a/").dir("a/dir/").file("a/dir/.wh..wh..opq", "").symlink("a", "../outside").build())
        .then(s -> assertSymlink(s.root.resolve("a"), "../outside")));
    rows.add(row("directory whose parent is then replaced by a symlink to outside (deferred mtimes)")
        .tar(tar().dir("a/").dir("a/dir/").symlink("a", "../outside").build())
        .then(s -> assertSymlink(s.root.resolve("a"), "../outside")));
    rows.add(row("directory whose parent is then replaced by a dangling symlink")
        .tar(tar().dir("a/").dir("a/b/").symlink("a", "nowhere").build())
        .then(s -> assertSymlink(s.root.resolve("a"), "nowhere")));
    rows.add(row("directory whose parent is then replaced by a regular file")
        .tar(tar().dir("a/").dir("a/b/").file("a", PWNED).build())
        .then(s -> assertFile(s.root.resolve("a"), PWNED)));
    // OCI image-spec: files present in the same layer as a whiteout are hidden only by later layers.
    rows.add(row("directory then a whiteout of it in the same layer")
        .tar(tar().dir("d/").file("d/f", "x").file(".wh.d", "").build())
        .then(s -> assertFile(s.root.resolve("d/f"), "x")));
    rows.add(row("overlay whiteout through planted symlink dir")
        .options(OVERLAY).needsRoot("overlay whiteouts are 0/0 char devices (mknod)")
        .tar(tar().file("out/.wh.canary", "").file("absout/.wh.passwd", "").build())
        .then(s -> {
          assertThat(POSIX.lstat(s.root.resolve("outside/canary")).isOverlayWhiteout()).isTrue();
          assertThat(POSIX.lstat(s.rooted(s.outsideAbs()).resolve("passwd")).isOverlayWhiteout()).isTrue();
        }));
    rows.add(row("overlay opaque marker in planted symlink dir")
        .options(OVERLAY).needsRoot("trusted.overlay.opaque is a trusted.* xattr")
        .tar(tar().file("absout/.wh..wh..opq", "").build())
        .then(s -> assertThat(POSIX.getxattr(s.rooted(s.outsideAbs()), Whiteouts.OVERLAY_OPAQUE_XATTR))
            .hasValue(new byte[] {'y'})));

    // --- reserved xattrs and devices
    rows.add(row("trusted.overlay.opaque xattr on a directory")
        .tar(tar().withXattr(TarEntry.directory("d/", 0755, 0, 0, TarBuilder.MTIME), null,
            "trusted.overlay.opaque", "y").build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"d/\"", "trusted.overlay.opaque"));
    rows.add(row("trusted.overlay.redirect xattr on a file")
        .tar(tar().withXattr(TarEntry.file("f", 1, 0644, 0, 0, TarBuilder.MTIME), new byte[] {'x'},
            "trusted.overlay.redirect", "/etc").build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"f\"", "trusted.overlay.redirect"));
    rows.add(row("trusted.overlay.opaque xattr on the root entry ./")
        .tar(tar().withXattr(TarEntry.directory("./", 0755, 0, 0, TarBuilder.MTIME), null,
            "trusted.overlay.opaque", "y").build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"./\"", "trusted.overlay.opaque"));
    rows.add(row("char device with allowDevices=false").tar(tar().chardev("mem", 1, 1).build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"mem\"", "device"));
    rows.add(row("block device through planted symlink dir with allowDevices=false")
        .tar(tar().entry(TarBuilder.special("absout/sda", TarEntry.Type.BLOCK_DEVICE, 0660, "", 8, 0), null).build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"absout/sda\"", "device"));

    // --- malformed archives
    rows.add(row("corrupt header checksum").tar(corruptChecksum())
        .fails(ErrorKind.INVALID_ARGUMENT, "offset 1024", "checksum"));
    rows.add(row("truncated mid-content").tar(truncatedMidContent())
        .fails(ErrorKind.INVALID_ARGUMENT, "big", "truncated"));
    rows.add(row("truncated mid-header").tar(truncatedMidHeader())
        .fails(ErrorKind.INVALID_ARGUMENT, "truncated tar header"));
    rows.add(row("garbage that is not a tar").tar(garbage(4096))
        .fails(ErrorKind.INVALID_ARGUMENT, "offset 0"));
    rows.add(row("short text that is not a tar").tar("this is not a tar\n".getBytes(StandardCharsets.UTF_8))
        .fails(ErrorKind.INVALID_ARGUMENT, "truncated tar header"));
    rows.add(row("oversized PAX header").tar(tar()
            .raw(TarBuilder.rawHeader("PaxHeaders/big", 'x', 2L << 20, ""))
            .rawContent(new byte[2 << 20])
            .raw(TarBuilder.rawHeader("f", '0', 0, "")).build())
        .fails(ErrorKind.INVALID_ARGUMENT, "PAX header", "exceeds the limit"));
    rows.add(row("oversized GNU long name").tar(tar()
            .raw(TarBuilder.rawHeader("././@LongLink", 'L', (1L << 20) + 1, ""))
            .rawContent(new byte[(1 << 20) + 1]).build())
        .fails(ErrorKind.INVALID_ARGUMENT, "GNU long name", "exceeds the limit"));
    rows.add(row("negative base-256 size").tar(negativeSize())
        .fails(ErrorKind.INVALID_ARGUMENT, "offset 0", "negative size"));
    rows.add(row("unknown entry type Z").tar(tar().raw(TarBuilder.rawHeader("weird", 'Z', 0, "")).build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"weird\"", "'Z'"));
    rows.add(row("GNU sparse S").tar(tar().raw(TarBuilder.rawHeader("sparse", 'S', 0, "")).build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"sparse\"", "sparse"));
    rows.add(row("PAX GNU.sparse records").tar(tar()
            .raw(TarBuilder.rawPax(TarBuilder.records("GNU.sparse.major", "1", "GNU.sparse.minor", "0")))
            .raw(TarBuilder.rawHeader("psparse", '0', 0, "")).build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"psparse\"", "sparse"));
    rows.add(row("NUL in name through PAX path").tar(tar()
            .raw(TarBuilder.rawPax(TarBuilder.records("path", "a\0/../../outside/canary")))
            .raw(TarBuilder.rawHeader("harmless", '0', PWNED.length(), ""))
            .rawContent(PWNED.getBytes(StandardCharsets.UTF_8)).build())
        .fails(ErrorKind.INVALID_ARGUMENT, "a\\x00/../../outside/canary", "NUL"));
    // Not an escape: without a check the C call cuts the target at the NUL, so the link on disk
    // differs from the one in the layer.
    rows.add(row("NUL in symlink target through PAX linkpath").tar(s -> tar()
            .raw(TarBuilder.rawPax(TarBuilder.records("linkpath", s.outsideAbs() + "\0/harmless")))
            .raw(TarBuilder.rawHeader("s", '2', 0, "harmless")).build())
        .fails(ErrorKind.INVALID_ARGUMENT, "\"s\"", "NUL"));

    // --- compressed and digested, through StreamApplier
    // A truncated download is bad input, not an internal error: the kind must say so.
    rows.add(row("gzip truncated").stream().tar(truncated(gzip(bigLayer()), 2))
        .fails(ErrorKind.INVALID_ARGUMENT));
    rows.add(row("zstd truncated").stream().tar(truncated(zstd(bigLayer()), 2))
        .fails(ErrorKind.INVALID_ARGUMENT));
    rows.add(row("gzip with a hostile entry").stream().tar(gzip(tar().file("../x", PWNED).build()))
        .fails(ErrorKind.INVALID_ARGUMENT, "\"../x\""));
    rows.add(row("diff ID mismatch").tar(tar().file("f", "content\n").build())
        .expectedDiffId(s -> Digest.sha256Of("something else".getBytes(StandardCharsets.UTF_8)))
        .fails(ErrorKind.DATA_LOSS, "diff ID mismatch"));
    rows.add(row("diff ID mismatch from trailing bytes after the end marker (zstd)").stream()
        .tar(zstd(concatBytes(tar().file("f", "content\n").build(), "trailing".getBytes(StandardCharsets.UTF_8))))
        .expectedDiffId(s -> Digest.sha256Of(tar().file("f", "content\n").build()))
        .fails(ErrorKind.DATA_LOSS, "diff ID mismatch"));

    return rows.stream();
  }

  // ---------------------------------------------------------------------------------------------
  // The test

  @ParameterizedTest(name = "{0}")
  @MethodSource("rows")
  void hostileLayer(Row row) throws Exception {
    if (row.needsRoot() != null) {
      Root.assumeRoot(row.needsRoot());
    }
    Sandbox s = sandbox(row);
    byte[] tar = row.tar().bytes(s);
    TreeSnapshot.Options options = TreeSnapshot.Options.DEFAULT.withMtimes().includingRoot();
    if (row.sharesOutsideInode()) {
      options = options.ignoringHardLinks();
    }
    TreeSnapshot before = outsideRoot(s, options);
    Map<String, Integer> linksBefore = linkCounts(s.outside);

    IOException error = null;
    try {
      apply(row, s, tar);
    } catch (IOException e) {
      error = e;
    }

    // Nothing outside the root changed, whatever the outcome.
    TreeAssert.assertSnapshotsEqual(before, outsideRoot(s, options));
    Map<String, Integer> linksAfter = linkCounts(s.outside);
    if (row.sharesOutsideInode()) {
      assertThat(linksAfter.keySet()).isEqualTo(linksBefore.keySet());
      linksAfter.forEach((p, n) -> assertThat(n).as("link count of outside/" + p).isLessThanOrEqualTo(linksBefore.get(p)));
    } else {
      assertThat(linksAfter).as("link counts under outside/").isEqualTo(linksBefore);
    }
    assertThat(POSIX.lstat(s.root).isDirectory()).as("the root is still a directory").isTrue();

    if (row.kind() == null) {
      if (error != null) {
        throw new AssertionError("expected the layer to apply, but it failed with "
            + LaminaException.kindOf(error) + ": " + error, error);
      }
    } else {
      if (error == null) {
        fail("expected " + row.kind() + " containing " + row.fragments() + ", but the layer applied");
      }
      assertThat(LaminaException.kindOf(error)).as("kind of %s", error).isEqualTo(row.kind());
      assertThat(error).isInstanceOf(LaminaException.class);
      for (String fragment : row.fragments()) {
        assertThat(error.getMessage()).as("message of %s", error).contains(fragment);
      }
    }
    row.check().check(s);
  }

  private static void apply(Row row, Sandbox s, byte[] tar) throws IOException {
    switch (row.via()) {
      case TAR_APPLIER -> new TarApplier(row.options()).apply(new ByteArrayInputStream(tar), s.root);
      case STREAM_APPLIER -> {
        Digest expected = row.expectedDiffId() == null ? null : row.expectedDiffId().digest(s);
        new StreamApplier(StreamProcessors.builtIn())
            .apply(new LayerBlob("", new ByteArrayInputStream(tar), expected, Map.of()), s.root, row.options());
      }
    }
  }

  private Sandbox sandbox(Row row) throws IOException {
    Path sandbox = tmp.resolve("sandbox");
    Sandbox s = new Sandbox(tmp, sandbox, sandbox.resolve("root"), sandbox.resolve("outside"));
    FsTree.apply(s.outside, outsideLayout());
    FsTree.apply(s.root, row.layout().ops(s));
    if (row.sharesOutsideInode()) {
      POSIX.link(s.outside.resolve("canary"), s.root.resolve("hl"));
    }
    POSIX.utimes(s.sandbox, OLD, OLD);
    POSIX.utimes(s.tmp, OLD, OLD);
    return s;
  }

  /** TMP without {@code sandbox/root}. */
  private static TreeSnapshot outsideRoot(Sandbox s, TreeSnapshot.Options options) throws IOException {
    TreeSnapshot all = TreeSnapshot.of(s.tmp, options);
    SortedMap<String, TreeSnapshot.Entry> kept = new TreeMap<>();
    all.entries().forEach((path, entry) -> {
      if (!path.equals("sandbox/root") && !path.startsWith("sandbox/root/")) {
        kept.put(path, entry);
      }
    });
    return new TreeSnapshot(kept, options);
  }

  private static Map<String, Integer> linkCounts(Path dir) throws IOException {
    Map<String, Integer> counts = new TreeMap<>();
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path p : (Iterable<Path>) paths::iterator) {
        counts.put(dir.relativize(p).toString(), POSIX.lstat(p).nlink());
      }
    }
    return counts;
  }

  // ---------------------------------------------------------------------------------------------
  // Read-ahead threads of a rejected layer

  @Test
  void rejectedLayerLeavesNoReadAheadThread() throws Exception {
    Set<Thread> before = readAheadThreads();
    Path root = Files.createDirectories(tmp.resolve("root"));
    // Far more than the read-ahead holds, so the producer is blocked on a full queue when the
    // applier rejects the first entry.
    byte[] tar = tar().file("../x", PWNED).file("zeros", new byte[48 << 20], 0644).build();
    byte[] blob = gzip(tar);

    assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
      LaminaException e = assertThrows(LaminaException.class,
          () -> new StreamApplier(StreamProcessors.builtIn())
              .apply(new LayerBlob("", new ByteArrayInputStream(blob), null, Map.of()), root, HOSTILE));
      assertThat(e.kind()).isEqualTo(ErrorKind.INVALID_ARGUMENT);
      assertThat(e.getMessage()).contains("\"../x\"");
    });
    assertNoNewReadAheadThreads(before);
    assertThat(tmp.resolve("x")).doesNotExist();
  }

  @Test
  void rejectedLayerFromABlockingSourceLeavesNoReadAheadThread() throws Exception {
    Set<Thread> before = readAheadThreads();
    Path root = Files.createDirectories(tmp.resolve("root"));
    // The source hands out a hostile entry and 1.5 MiB of its content, then blocks like a stalled
    // download: a read that ignores interrupts and ends only when the stream is closed.
    byte[] head = tar().file("../x", new byte[2 << 20], 0644).buildUnterminated();
    BlockingSource source = new BlockingSource(Arrays.copyOf(head, 3 << 19));

    assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
      LaminaException e = assertThrows(LaminaException.class,
          () -> new StreamApplier(StreamProcessors.builtIn())
              .apply(new LayerBlob("", source, null, Map.of()), root, HOSTILE));
      assertThat(e.kind()).isEqualTo(ErrorKind.INVALID_ARGUMENT);
      assertThat(e.getMessage()).contains("\"../x\"");
    });
    assertNoNewReadAheadThreads(before);
    assertThat(source.closed.getCount()).as("the blob stream was closed").isZero();
  }

  private static Set<Thread> readAheadThreads() {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.getName().equals("layer-decompress") && t.isAlive())
        .collect(Collectors.toSet());
  }

  private static void assertNoNewReadAheadThreads(Set<Thread> before) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    Set<Thread> added;
    do {
      added = readAheadThreads();
      added.removeAll(before);
      if (added.isEmpty()) {
        return;
      }
      Thread.sleep(20);
    } while (System.nanoTime() < deadline);
    StringBuilder where = new StringBuilder();
    for (Thread t : added) {
      where.append("\n").append(t).append(" state ").append(t.getState());
      for (StackTraceElement el : t.getStackTrace()) {
        where.append("\n  at ").append(el);
      }
    }
    fail(added.size() + " layer-decompress thread(s) still running 5 s after the rejected apply:" + where);
  }

  /** Serves its bytes, then blocks (ignoring interrupts, as a socket read does) until closed. */
  private static final class BlockingSource extends InputStream {
    private final byte[] data;
    private int pos;
    final CountDownLatch closed = new CountDownLatch(1);

    BlockingSource(byte[] data) {
      this.data = data;
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (len == 0) {
        return 0;
      }
      synchronized (this) {
        if (pos < data.length) {
          int n = Math.min(len, data.length - pos);
          System.arraycopy(data, pos, b, off, n);
          pos += n;
          return n;
        }
      }
      boolean interrupted = false;
      while (closed.getCount() > 0) {
        try {
          closed.await();
        } catch (InterruptedException e) {
          interrupted = true;
        }
      }
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
      throw new IOException("stream closed");
    }

    @Override
    public void close() {
      closed.countDown();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Archives and assertions

  private static TarBuilder tar() {
    return new TarBuilder();
  }

  private static List<FsOp> concat(List<FsOp> a, List<FsOp> b) {
    List<FsOp> all = new ArrayList<>(a);
    all.addAll(b);
    return all;
  }

  private static byte[] concatBytes(byte[] a, byte[] b) {
    byte[] all = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, all, a.length, b.length);
    return all;
  }

  private static byte[] withPrefix(byte[] header, String prefix) {
    byte[] p = prefix.getBytes(StandardCharsets.UTF_8);
    System.arraycopy(p, 0, header, 345, p.length);
    TarBuilder.checksum(header);
    return header;
  }

  /** Two files; the second header has one name byte changed after its checksum was computed. */
  private static byte[] corruptChecksum() {
    byte[] t = tar().file("ok", "fine\n").file("second", PWNED).build();
    t[1024] ^= 0x01;
    return t;
  }

  private static byte[] truncatedMidContent() {
    byte[] t = tar().file("big", new byte[10_000], 0644).build();
    return Arrays.copyOf(t, 512 + 3000);
  }

  private static byte[] truncatedMidHeader() {
    byte[] t = tar().file("a", "a\n").file("b", "b\n").build();
    return Arrays.copyOf(t, 1024 + 200);
  }

  private static byte[] garbage(int size) {
    byte[] g = new byte[size];
    new Random(42).nextBytes(g);
    g[0] = 'G'; // neither gzip nor zstd magic
    return g;
  }

  private static byte[] negativeSize() {
    byte[] h = TarBuilder.rawHeader("neg", '0', 0, "");
    Arrays.fill(h, 124, 136, (byte) 0xff);
    TarBuilder.checksum(h);
    return tar().raw(h).build();
  }

  /** A layer big enough that cutting its compressed form in half cuts the tar mid-content. */
  private static byte[] bigLayer() {
    byte[] noise = new byte[256 * 1024];
    new Random(7).nextBytes(noise);
    return tar().dir("d/").file("d/noise", noise, 0644).file("d/after", "after\n").build();
  }

  private static byte[] truncated(byte[] blob, int divisor) {
    return Arrays.copyOf(blob, blob.length / divisor);
  }

  private static byte[] gzip(byte[] data) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
      gz.write(data);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  private static byte[] zstd(byte[] data) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (ZstdOutputStream z = new ZstdOutputStream(out)) {
      z.write(data);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  private static void assertFile(Path p, String content) throws IOException {
    assertThat(POSIX.lstat(p).isRegularFile()).as("%s is a regular file", p).isTrue();
    assertThat(Files.readString(p, StandardCharsets.UTF_8)).as("content of %s", p).isEqualTo(content);
  }

  private static void assertSymlink(Path p, String target) throws IOException {
    assertThat(Files.isSymbolicLink(p)).as("%s is a symlink", p).isTrue();
    assertThat(POSIX.readlink(p)).as("target of %s", p).isEqualTo(target);
  }
}
