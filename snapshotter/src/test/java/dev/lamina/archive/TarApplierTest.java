package dev.lamina.archive;

import static dev.lamina.archive.LayerFixture.T;
import static dev.lamina.archive.LayerFixture.blockdevEntry;
import static dev.lamina.archive.LayerFixture.chardevEntry;
import static dev.lamina.archive.LayerFixture.dirEntry;
import static dev.lamina.archive.LayerFixture.fifoEntry;
import static dev.lamina.archive.LayerFixture.fileEntry;
import static dev.lamina.archive.LayerFixture.hardlinkEntry;
import static dev.lamina.archive.LayerFixture.opaque;
import static dev.lamina.archive.LayerFixture.symlinkEntry;
import static dev.lamina.archive.LayerFixture.tar;
import static dev.lamina.archive.LayerFixture.whiteout;
import static dev.lamina.fstest.FsTree.blockdev;
import static dev.lamina.fstest.FsTree.chardev;
import static dev.lamina.fstest.FsTree.chmod;
import static dev.lamina.fstest.FsTree.chown;
import static dev.lamina.fstest.FsTree.dir;
import static dev.lamina.fstest.FsTree.fifo;
import static dev.lamina.fstest.FsTree.file;
import static dev.lamina.fstest.FsTree.link;
import static dev.lamina.fstest.FsTree.mtime;
import static dev.lamina.fstest.FsTree.remove;
import static dev.lamina.fstest.FsTree.symlink;
import static dev.lamina.fstest.FsTree.xattr;
import static dev.lamina.fstest.TreeAssert.assertTreesEqual;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.lamina.archive.LayerFixture.Item;
import dev.lamina.compression.Compression;
import dev.lamina.diff.AppliedLayer;
import dev.lamina.diff.LayerBlob;
import dev.lamina.diff.StreamApplier;
import dev.lamina.digest.Digest;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.fstest.FsOp;
import dev.lamina.fstest.FsTree;
import dev.lamina.fstest.Root;
import dev.lamina.fstest.TreeSnapshot;
import dev.lamina.posix.Posix;
import dev.lamina.processor.StreamProcessors;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Golden-tree tests of the OCI changeset rules: each builds a lower tree with {@link FsTree},
 * applies a layer tar onto it and compares the result with an expected tree built with {@link
 * FsTree}.
 */
class TarApplierTest {
  /**
   * A VFS capability v2 (cap_net_raw,cap_setfcap+ep): magic 0x02000001, permitted 0x80002000.
   * Its 0x80 byte is what a UTF-8 round trip would mangle.
   */
  private static final byte[] CAPABILITY = {
      0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, (byte) 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};

  @TempDir Path tmp;

  /** A tree under the temp dir built from {@code ops}. */
  private Path tree(String name, List<? extends FsOp> ops) throws IOException {
    Path root = tmp.resolve(name);
    FsTree.apply(root, ops);
    return root;
  }

  private Path tree(String name, FsOp... ops) throws IOException {
    return tree(name, List.of(ops));
  }

  private static ApplyStats applyNaive(byte[] layer, Path root) throws IOException {
    return LayerFixture.apply(layer, root, ApplyOptions.defaults());
  }

  /** Builds lower, applies {@code layer} naively onto it, and compares with {@code expected}. */
  private ApplyStats assertApplies(List<FsOp> lower, byte[] layer, List<FsOp> expected) throws IOException {
    Path target = tree("target", lower);
    ApplyStats stats = applyNaive(layer, target);
    assertTreesEqual(tree("expected", expected), target);
    return stats;
  }

  @SafeVarargs
  private static List<FsOp> ops(List<? extends FsOp>... parts) {
    return FsTree.concat(parts);
  }

  @Nested
  class EntryTypes {
    @Test
    void filesDirectoriesAndSymlinks() throws IOException {
      byte[] big = new byte[300 * 1024 + 7]; // more than the applier's copy buffer
      new Random(42).nextBytes(big);

      assertApplies(List.of(),
          tar(dirEntry("etc/", 0755), fileEntry("etc/passwd", "root:x:0:0\n", 0644),
              fileEntry("etc/shadow", "secret", 0600), dirEntry("usr/", 0755), dirEntry("usr/bin/", 0711),
              fileEntry("usr/bin/tool", "#!/bin/sh\n", 0755), fileEntry("usr/lib.so", big, 0644),
              fileEntry("empty", "", 0444), symlinkEntry("bin", "usr/bin"), symlinkEntry("abs", "/etc/passwd"),
              symlinkEntry("dangling", "../nowhere")),
          List.of(dir("etc", 0755), file("etc/passwd", "root:x:0:0\n", 0644), file("etc/shadow", "secret", 0600),
              dir("usr", 0755), dir("usr/bin", 0711), file("usr/bin/tool", "#!/bin/sh\n", 0755),
              file("usr/lib.so", big, 0644), file("empty", "", 0444), symlink("bin", "usr/bin"),
              symlink("abs", "/etc/passwd"), symlink("dangling", "../nowhere")));
    }

    @Test
    void hardLinksShareOneInode() throws IOException {
      List<FsOp> lower = List.of(file("lowerfile", "from below", 0600), file("b", "old b", 0644));

      assertApplies(lower,
          tar(fileEntry("a", "shared", 0640), hardlinkEntry("b", "a"), dirEntry("d/", 0755),
              hardlinkEntry("d/c", "a"), hardlinkEntry("to-lower", "lowerfile"), symlinkEntry("s", "a"),
              hardlinkEntry("s2", "s")),
          ops(lower, List.of(file("a", "shared", 0640), link("b", "a"), dir("d", 0755), link("d/c", "a"),
              link("to-lower", "lowerfile"), symlink("s", "a"), link("s2", "s"))));
    }

    @Test
    void fifos() throws IOException {
      assertApplies(List.of(),
          tar(dirEntry("run/", 0755), fifoEntry("run/initctl", 0600), fifoEntry("run/open", 0666)),
          List.of(dir("run", 0755), fifo("run/initctl", 0600), fifo("run/open", 0666)));
    }

    @Test
    void deviceNodes() throws IOException {
      Root.assumeRoot();
      assertApplies(List.of(),
          tar(dirEntry("dev/", 0755), chardevEntry("dev/null", 1, 3, 0666), chardevEntry("dev/tty", 5, 0, 0620),
              blockdevEntry("dev/loop0", 7, 0, 0660), blockdevEntry("dev/big", 259, 70000, 0600)),
          List.of(dir("dev", 0755), chardev("dev/null", 1, 3, 0666), chardev("dev/tty", 5, 0, 0620),
              blockdev("dev/loop0", 7, 0, 0660), blockdev("dev/big", 259, 70000, 0600)));
    }

    @Test
    void deviceNodesAreRejectedWhenNotAllowed() throws IOException {
      Path target = tree("target");
      byte[] layer = tar(chardevEntry("null", 1, 3, 0666));

      assertThatThrownBy(() -> LayerFixture.apply(layer, target, ApplyOptions.defaults().withAllowDevices(false)))
          .isInstanceOfSatisfying(LaminaException.class, e -> assertThat(e.kind()).isEqualTo(ErrorKind.INVALID_ARGUMENT))
          .hasMessageContaining("null");
      assertTreesEqual(tree("expected"), target);
    }
  }

  @Nested
  class Attributes {
    @Test
    void ownersComeFromTheTar() throws IOException {
      Root.assumeRoot();
      assertApplies(List.of(),
          tar(dirEntry("home/", 0755), dirEntry("home/alice/", 0750).owner(1000, 1000),
              fileEntry("home/alice/notes", "n", 0640).owner(1000, 100),
              symlinkEntry("home/alice/link", "notes").owner(1000, 1001),
              fifoEntry("home/alice/fifo", 0600).owner(65534, 65534),
              fileEntry("home/mapped", "userns", 0644).owner(100000, 100000)),
          List.of(dir("home", 0755), dir("home/alice", 0750), chown("home/alice", 1000, 1000),
              file("home/alice/notes", "n", 0640), chown("home/alice/notes", 1000, 100),
              symlink("home/alice/link", "notes"), chown("home/alice/link", 1000, 1001),
              fifo("home/alice/fifo", 0600), chown("home/alice/fifo", 65534, 65534),
              file("home/mapped", "userns", 0644), chown("home/mapped", 100000, 100000)));
    }

    @Test
    void permissionBitsIncludingStickyAndSetuid() throws IOException {
      assertApplies(List.of(),
          tar(dirEntry("tmp/", 01777), dirEntry("shared/", 02775), fileEntry("suid", "elf", 04755),
              fileEntry("private", "p", 0600), fileEntry("read-only", "r", 0400), fileEntry("exec", "x", 0711)),
          List.of(dir("tmp", 01777), dir("shared", 02775), file("suid", "elf", 04755), file("private", "p", 0600),
              file("read-only", "r", 0400), file("exec", "x", 0711)));
    }

    @Test
    void setuidAndSetgidSurviveTheChownToTheirOwner() throws IOException {
      Root.assumeRoot();
      assertApplies(List.of(),
          tar(dirEntry("usr/", 0755), dirEntry("usr/bin/", 0555),
              fileEntry("usr/bin/passwd", "elf", 04755).owner(1000, 1000),
              fileEntry("usr/bin/wall", "elf", 02755).owner(0, 5),
              fileEntry("usr/bin/both", "elf", 06711).owner(1000, 50),
              dirEntry("srv/", 03775).owner(1000, 100), fileEntry("srv/f", "f", 0644).owner(1000, 100),
              fileEntry("no-access", "", 0000).owner(1000, 1000)),
          List.of(dir("usr", 0755), dir("usr/bin", 0555), file("usr/bin/passwd", "elf", 04755),
              chown("usr/bin/passwd", 1000, 1000), file("usr/bin/wall", "elf", 02755), chown("usr/bin/wall", 0, 5),
              file("usr/bin/both", "elf", 06711), chown("usr/bin/both", 1000, 50), dir("srv", 03775),
              chown("srv", 1000, 100), file("srv/f", "f", 0644), chown("srv/f", 1000, 100),
              file("no-access", "", 0000), chown("no-access", 1000, 1000)));
    }

    @Test
    void userXattrsOnFilesAndDirectories() throws IOException {
      Root.assumeUserXattrs(tmp);
      byte[] binary = {0x00, (byte) 0xff, (byte) 0x80, '\n', '=', 0x7f};

      assertApplies(List.of(),
          tar(dirEntry("d/", 0755).xattr("user.dir", "on a directory"),
              fileEntry("d/f", "f", 0644).xattr("user.mime_type", "text/plain").xattr("user.binary", binary)
                  .xattr("user.empty", new byte[0])),
          List.of(dir("d", 0755), xattr("d", "user.dir", "on a directory"), file("d/f", "f", 0644),
              xattr("d/f", "user.mime_type", "text/plain"), xattr("d/f", "user.binary", binary),
              xattr("d/f", "user.empty", new byte[0])));
    }

    @Test
    void binaryCapabilityXattrKeepsItsExactBytes() throws IOException {
      Root.assumeRoot();
      Path target = tree("target");

      applyNaive(tar(fileEntry("ping", "elf", 0755).xattr("security.capability", CAPABILITY),
          fileEntry("suid-with-caps", "elf", 04750).owner(1000, 1000).xattr("security.capability", CAPABILITY)),
          target);

      assertThat(Posix.get().getxattr(target.resolve("ping"), "security.capability")).contains(CAPABILITY);
      assertTreesEqual(tree("expected", file("ping", "elf", 0755), xattr("ping", "security.capability", CAPABILITY),
          file("suid-with-caps", "elf", 04750), chown("suid-with-caps", 1000, 1000),
          xattr("suid-with-caps", "security.capability", CAPABILITY)), target);
    }

    @Test
    void capabilitySetBySetcapSurvivesGnuTar() throws IOException {
      Root.assumeRoot();
      LayerFixture.assumePrograms("setcap", "getcap");
      Path src = tree("src", file("ping", "elf", 0755));
      LayerFixture.run(null, "setcap", "cap_net_raw,cap_setfcap+ep", src.resolve("ping").toString());
      byte[] caps = Posix.get().getxattr(src.resolve("ping"), "security.capability").orElseThrow();
      assertThat(highBytes(caps)).as("bytes >= 0x80 in setcap's value").isPositive();
      Path target = tree("target");

      applyNaive(LayerFixture.gnuTar(src, "posix", "ping"), target);

      assertThat(Posix.get().getxattr(target.resolve("ping"), "security.capability")).contains(caps);
      assertThat(LayerFixture.runText(null, "getcap", target.resolve("ping").toString()))
          .contains("cap_net_raw,cap_setfcap=ep");
      assertTreesEqual(src, target);
    }

    @Test
    void directoryMtimeIsItsEntrysAfterChildrenAreWritten() throws IOException {
      long s = 1_000_000_000L;
      List<FsOp> lower = List.of(dir("merged", 0755), file("merged/old", "o", 0644), file("merged/gone", "g", 0644));
      Path target = tree("target", lower);

      applyNaive(tar(dirEntry("./", 0755).mtime(T + 9 * s),
          dirEntry("a/", 0755).mtime(T + s), fileEntry("a/f", "x", 0644).mtime(T + 2 * s),
          dirEntry("a/b/", 0700).mtime(T + 3 * s), fileEntry("a/b/g", "y", 0644).mtime(T + 4 * s),
          symlinkEntry("a/l", "f").mtime(T + 5 * s),
          dirEntry("merged/", 0755).mtime(T + 6 * s), fileEntry("merged/new", "n", 0644).mtime(T + 7 * s),
          whiteout("merged/gone")), target);

      TreeSnapshot.Options withMtimes = TreeSnapshot.Options.DEFAULT.withMtimes().includingRoot();
      Path expected = tree("expected", ops(lower, List.of(remove("merged/gone"), chmod(".", 0755),
          dir("a", 0755), file("a/f", "x", 0644), dir("a/b", 0700), file("a/b/g", "y", 0644), symlink("a/l", "f"),
          file("merged/new", "n", 0644),
          // children first: each op below leaves its parent's mtime alone
          mtime("merged/old", Posix.get().lstat(target.resolve("merged/old")).mtimeNanos()),
          mtime("a/f", T + 2 * s), mtime("a/b/g", T + 4 * s), mtime("a/l", T + 5 * s), mtime("merged/new", T + 7 * s),
          mtime("a/b", T + 3 * s), mtime("a", T + s), mtime("merged", T + 6 * s), mtime(".", T + 9 * s))));
      assertTreesEqual(expected, target, withMtimes);
    }
  }

  @Nested
  class LongNames {
    private final String dirs = "d".repeat(100) + "/" + "e".repeat(100);
    /** Fits ustar's prefix and name fields. */
    private final String splittable = "a".repeat(60) + "/" + "b".repeat(60) + "/" + "c".repeat(28);
    /** 300 bytes: longer than 255, so only PAX or GNU records can carry it. */
    private final String deep = dirs + "/" + "f".repeat(98);
    /** One component longer than ustar's 100-byte name field. */
    private final String wide = "w".repeat(200);
    private final String longTarget = "../".repeat(10) + "t".repeat(150);

    private List<FsOp> expected() {
      return List.of(dir("a".repeat(60), 0755), dir("a".repeat(60) + "/" + "b".repeat(60), 0755),
          file(splittable, "split", 0644), dir("d".repeat(100), 0755), dir(dirs, 0755), file(deep, "deep", 0644),
          file(wide, "wide", 0644), symlink("longlink", longTarget), link("hard", deep));
    }

    @ParameterizedTest
    @ValueSource(strings = {"posix", "gnu"})
    void fromGnuTar(String format) throws IOException {
      Path src = tree("src", expected());
      Path target = tree("target");

      applyNaive(LayerFixture.gnuTar(src, format, "."), target);

      assertTreesEqual(src, target);
    }

    @Test
    void fromTarWriter() throws IOException {
      Path target = tree("target");

      applyNaive(tar(dirEntry("a".repeat(60) + "/", 0755), dirEntry("a".repeat(60) + "/" + "b".repeat(60) + "/", 0755),
          fileEntry(splittable, "split", 0644), dirEntry("d".repeat(100) + "/", 0755), dirEntry(dirs + "/", 0755),
          fileEntry(deep, "deep", 0644), fileEntry(wide, "wide", 0644), symlinkEntry("longlink", longTarget),
          hardlinkEntry("hard", deep)), target);

      assertTreesEqual(tree("expected", expected()), target);
    }
  }

  @Nested
  class ImplicitDirectories {
    @Test
    void missingParentsAreCreated0755AndReported() throws IOException {
      List<FsOp> lower = List.of(dir("existing", 0700));

      ApplyStats stats = assertApplies(lower,
          tar(fileEntry("a/b/f", "f", 0644), dirEntry("c/", 0750), fileEntry("c/d/g", "g", 0644),
              fileEntry("x/y/h", "h", 0644), dirEntry("x/", 0711), fileEntry("existing/sub/i", "i", 0644)),
          ops(lower, List.of(dir("a", 0755), dir("a/b", 0755), file("a/b/f", "f", 0644), dir("c", 0750),
              dir("c/d", 0755), file("c/d/g", "g", 0644), dir("x", 0711), dir("x/y", 0755), file("x/y/h", "h", 0644),
              dir("existing/sub", 0755), file("existing/sub/i", "i", 0644))));

      // c and x are entries of the layer (x after its child), existing was there before
      assertThat(stats.implicitDirectories()).containsExactlyInAnyOrder("a", "a/b", "c/d", "x/y", "existing/sub");
    }

    @Test
    void layerWithEveryDirectoryListedReportsNone() throws IOException {
      Path target = tree("target");

      ApplyStats stats = applyNaive(tar(dirEntry("a/", 0755), dirEntry("a/b/", 0700), fileEntry("a/b/f", "f", 0644)),
          target);

      assertThat(stats.implicitDirectories()).isEmpty();
      assertThat(stats.entries()).isEqualTo(3);
      assertThat(stats.contentBytes()).isEqualTo(1);
    }

    @Test
    void createdModeDoesNotDependOnTheUmask() throws IOException {
      jnr.posix.POSIX process = jnr.posix.POSIXFactory.getNativePOSIX();
      Path target = tree("target");
      int old = process.umask(077);
      try {
        applyNaive(tar(fileEntry("a/b/f", "f", 0644), dirEntry("c/", 0775), fifoEntry("c/p", 0666)), target);
      } finally {
        process.umask(old);
      }

      assertTreesEqual(tree("expected", dir("a", 0755), dir("a/b", 0755), file("a/b/f", "f", 0644), dir("c", 0775),
          fifo("c/p", 0666)), target);
    }
  }

  @Nested
  class Replacement {
    @Test
    void fileReplacedByDirectory() throws IOException {
      assertApplies(List.of(file("x", "was a file", 0644)),
          tar(dirEntry("x/", 0750), fileEntry("x/f", "inside", 0644)),
          List.of(dir("x", 0750), file("x/f", "inside", 0644)));
    }

    @Test
    void directoryReplacedByFile() throws IOException {
      assertApplies(List.of(dir("d", 0755), file("d/a", "a", 0644), dir("d/sub", 0700), file("d/sub/b", "b", 0644)),
          tar(fileEntry("d", "now a file", 0600)),
          List.of(file("d", "now a file", 0600)));
    }

    @Test
    void symlinkReplacedByFileWithoutWritingThroughIt() throws IOException {
      List<FsOp> lower = List.of(file("target", "keep me", 0644), symlink("l", "target"), dir("dir", 0755),
          symlink("ldir", "dir"));

      assertApplies(lower,
          tar(fileEntry("l", "new", 0640), fileEntry("ldir", "not a dir", 0644)),
          List.of(file("target", "keep me", 0644), file("l", "new", 0640), dir("dir", 0755),
              file("ldir", "not a dir", 0644)));
    }

    @Test
    void fileReplacedBySymlink() throws IOException {
      assertApplies(List.of(file("f", "old", 0644), file("g", "g", 0644)),
          tar(symlinkEntry("f", "g")),
          List.of(file("g", "g", 0644), symlink("f", "g")));
    }

    @Test
    void directoryReplacedBySymlink() throws IOException {
      assertApplies(List.of(dir("lib", 0755), file("lib/libc.so", "elf", 0755), dir("usr/lib", 0755)),
          tar(symlinkEntry("lib", "usr/lib")),
          List.of(dir("usr/lib", 0755), symlink("lib", "usr/lib")));
    }

    @Test
    void directoriesMergeKeepingLowerContentWithTheEntrysAttributes() throws IOException {
      List<FsOp> lower = List.of(dir("d", 0700), file("d/old", "old", 0644), dir("d/sub", 0755),
          file("d/sub/deep", "deep", 0644));

      assertApplies(lower,
          tar(dirEntry("d/", 0751), fileEntry("d/new", "new", 0644), dirEntry("d/sub/", 01777)),
          ops(lower, List.of(chmod("d", 0751), file("d/new", "new", 0644), chmod("d/sub", 01777))));
    }

    @Test
    void directoryMergeTakesTheEntrysOwner() throws IOException {
      Root.assumeRoot();
      List<FsOp> lower = List.of(dir("home", 0755), chown("home", 1000, 1000), file("home/.profile", "p", 0644));

      assertApplies(lower,
          tar(dirEntry("home/", 0750).owner(2000, 3000)),
          ops(lower, List.of(chmod("home", 0750), chown("home", 2000, 3000))));
    }
  }

  @Nested
  class NaiveWhiteouts {
    @Test
    void whiteoutRemovesAFile() throws IOException {
      List<FsOp> lower = List.of(dir("etc", 0755), file("etc/shadow", "secret", 0600), file("etc/keep", "k", 0644));

      assertApplies(lower, tar(whiteout("etc/shadow")), ops(lower, List.of(remove("etc/shadow"))));
    }

    @Test
    void whiteoutRemovesAWholeDirectory() throws IOException {
      List<FsOp> lower = List.of(dir("var/cache/apt", 0755), file("var/cache/apt/pkgcache.bin", "bin", 0644),
          symlink("var/cache/apt/link", "/etc"), fifo("var/cache/fifo", 0600), file("var/keep", "k", 0644));

      assertApplies(lower, tar(whiteout("var/cache")), ops(lower, List.of(remove("var/cache"))));
    }

    @Test
    void whiteoutOfSomethingMissingIsHarmless() throws IOException {
      List<FsOp> lower = List.of(dir("etc", 0755), file("etc/hosts", "h", 0644));

      ApplyStats stats = assertApplies(lower,
          tar(whiteout("etc/ghost"), whiteout("nodir/ghost"), whiteout("ghost")), lower);

      assertThat(stats.entries()).isEqualTo(3);
      assertThat(stats.implicitDirectories()).isEmpty();
    }

    @Test
    void entryAfterItsWhiteoutInTheSameLayerReplacesTheLowerOne() throws IOException {
      assertApplies(List.of(file("f", "lower", 0644), dir("d", 0755), file("d/lower", "l", 0644)),
          tar(whiteout("f"), fileEntry("f", "same layer", 0644), whiteout("d"), dirEntry("d/", 0700),
              fileEntry("d/upper", "u", 0644)),
          List.of(file("f", "same layer", 0644), dir("d", 0700), file("d/upper", "u", 0644)));
    }

    /**
     * OCI image-spec (layer.md, Whiteouts): "Whiteout files MUST only apply to resources in
     * lower/parent layers. Files that are present in the same layer as a whiteout file can only be
     * hidden by whiteout files in subsequent layers."
     */
    @Test
    void whiteoutAfterAnEntryOfTheSameLayerHidesOnlyLowerContent() throws IOException {
      assertApplies(List.of(file("f", "lower", 0644), dir("d", 0755), file("d/old", "o", 0644)),
          tar(fileEntry("f", "same layer", 0644), whiteout("f"), fileEntry("d/new", "n", 0644), whiteout("d")),
          List.of(file("f", "same layer", 0644), dir("d", 0755), file("d/new", "n", 0644)));
    }

    @ParameterizedTest
    @EnumSource(Marker.class)
    void opaqueDirectoryKeepsOnlyTheLayersEntries(Marker marker) throws IOException {
      List<FsOp> lower = List.of(dir("D", 0755), file("D/old", "o", 0644), dir("D/lowerdir", 0755),
          file("D/lowerdir/x", "x", 0644), symlink("D/link", "old"), file("outside", "stays", 0644));
      List<Item> own = List.of(dirEntry("D/", 0750), fileEntry("D/new", "n", 0644), dirEntry("D/newdir/", 0755),
          fileEntry("D/newdir/y", "y", 0644));

      assertApplies(lower, tar(marker.place(opaque("D"), own)),
          List.of(dir("D", 0750), file("D/new", "n", 0644), dir("D/newdir", 0755), file("D/newdir/y", "y", 0644),
              file("outside", "stays", 0644)));
    }

    @ParameterizedTest
    @EnumSource(Marker.class)
    void opaqueDirectoryHidesLowerContentOfNestedDirectories(Marker marker) throws IOException {
      List<FsOp> lower = List.of(dir("D/sub", 0755), file("D/sub/old", "o", 0644), file("D/top", "t", 0644),
          dir("D/sub/deeper", 0755), file("D/sub/deeper/z", "z", 0644));

      assertApplies(lower, tar(marker.place(opaque("D"), List.of(fileEntry("D/sub/new", "n", 0644)))),
          List.of(dir("D/sub", 0755), file("D/sub/new", "n", 0644)));
    }

    @Test
    void opaqueRootDirectory() throws IOException {
      assertApplies(List.of(file("a", "a", 0644), dir("b", 0755), file("b/c", "c", 0644)),
          tar(opaque(""), fileEntry("new", "n", 0644)),
          List.of(file("new", "n", 0644)));
    }
  }

  /** Where a whiteout marker goes relative to the layer's own entries in the same directory. */
  enum Marker {
    BEFORE,
    AFTER;

    List<Item> place(Item markerItem, List<Item> own) {
      List<Item> all = new ArrayList<>();
      if (this == BEFORE) {
        all.add(markerItem);
      }
      all.addAll(own);
      if (this == AFTER) {
        all.add(markerItem);
      }
      return all;
    }
  }

  @Nested
  class OverlayWhiteouts {
    private final ApplyOptions overlay = ApplyOptions.defaults().withWhiteouts(WhiteoutMode.OVERLAY);

    @Test
    void whiteoutsBecomeDevicesAndOpaqueMarkersAnXattr() throws IOException {
      Root.assumeRoot();
      Path upper = tree("upper");

      LayerFixture.apply(tar(dirEntry("etc/", 0755), whiteout("etc/shadow"), dirEntry("var/", 0755),
          whiteout("var/cache"), dirEntry("opt/", 0755), opaque("opt"), fileEntry("opt/new", "n", 0644)), upper, overlay);

      assertTreesEqual(tree("expected", dir("etc", 0755), chardev("etc/shadow", 0, 0, 0), dir("var", 0755),
          chardev("var/cache", 0, 0, 0), dir("opt", 0755), xattr("opt", "trusted.overlay.opaque", "y"),
          file("opt/new", "n", 0644)), upper);
    }

    @ParameterizedTest
    @EnumSource(Marker.class)
    void mergedViewEqualsTheNaiveApply(Marker marker) throws IOException {
      Root.assumeRoot();
      LayerFixture.assumeOverlayfs();
      List<FsOp> lower = List.of(dir("etc", 0755), file("etc/passwd", "root", 0644), file("etc/shadow", "s", 0600),
          dir("var/cache/apt", 0755), file("var/cache/apt/x", "x", 0644), dir("opt", 0755), file("opt/old", "o", 0644),
          dir("opt/sub", 0755), file("opt/sub/old", "o", 0644), file("became-dir", "f", 0644),
          dir("became-file", 0755), file("became-file/x", "x", 0644), file("home", "h", 0644),
          file("etc/hostname", "lower", 0644), dir("srv", 0755), file("srv/old", "o", 0644));
      List<Item> layer = new ArrayList<>(List.of(dirEntry("etc/", 0755), fileEntry("etc/passwd", "root2", 0640),
          whiteout("etc/shadow"), dirEntry("var/", 0755), whiteout("var/cache"), dirEntry("became-dir/", 0700),
          fileEntry("became-dir/in", "i", 0644), fileEntry("became-file", "now a file", 0644),
          symlinkEntry("home", "etc"), whiteout("no-such-file"),
          // whiteouts after entries of the same layer hide only the lower content
          fileEntry("etc/hostname", "upper", 0644), whiteout("etc/hostname"), fileEntry("srv/new", "n", 0644),
          whiteout("srv")));
      layer.addAll(marker.place(opaque("opt"), List.of(dirEntry("opt/", 0755), dirEntry("opt/sub/", 0755),
          fileEntry("opt/sub/new", "n", 0644))));
      byte[] tar = tar(layer);

      Path naive = tree("naive", lower);
      applyNaive(tar, naive);
      Path lowerDir = tree("lower", lower);
      Path upper = tree("upper");
      Path work = tree("work");
      Path merged = tree("merged");
      LayerFixture.apply(tar, upper, overlay);

      LayerFixture.run(null, "mount", "-t", "overlay", "overlay", "-o",
          "lowerdir=" + lowerDir + ",upperdir=" + upper + ",workdir=" + work, merged.toString());
      try {
        assertTreesEqual(naive, merged);
      } finally {
        LayerFixture.run(null, "umount", merged.toString());
      }
    }

    @Test
    void implicitDirectoriesAreReportedForTheSnapshotterToFix() throws IOException {
      Root.assumeRoot();
      Path upper = tree("upper");

      ApplyStats stats = LayerFixture.apply(tar(fileEntry("tmp/x", "x", 0644), dirEntry("etc/", 0755),
          fileEntry("etc/y", "y", 0644), opaque("var/lib")), upper, overlay);

      // an upper tmp/ created 0755 would shadow a lower 1777 /tmp unless fixed before commit
      assertThat(stats.implicitDirectories()).containsExactlyInAnyOrder("tmp", "var", "var/lib");
    }
  }

  @Nested
  class AgreesWithGnuTar {
    @Test
    void treeEqualsGnuTarExtractionOfTheSameLayer() throws IOException {
      Root.assumeRoot();
      byte[] layer = tar(dirEntry("etc/", 0755), fileEntry("etc/passwd", "root", 0644).owner(0, 42),
          dirEntry("tmp/", 01777), fileEntry("suid", "elf", 04755).owner(1000, 1000), symlinkEntry("l", "etc/passwd"),
          hardlinkEntry("h", "etc/passwd"), fifoEntry("p", 0640), chardevEntry("null", 1, 3, 0666),
          fileEntry("caps", "elf", 0755).xattr("security.capability", CAPABILITY)
              .xattr("user.note", "hello"),
          fileEntry("big-uid", "b", 0644).owner(3_000_000, 3_000_001));
      Path gnu = tree("gnu");
      Path ours = tree("ours");

      LayerFixture.run(layer, "tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "--same-owner", "-xpf", "-",
          "-C", gnu.toString());
      applyNaive(layer, ours);

      assertTreesEqual(gnu, ours, TreeSnapshot.Options.DEFAULT.withMtimes());
    }
  }

  @Nested
  class DiffIds {
    private final StreamApplier applier = new StreamApplier(StreamProcessors.builtIn());
    private final byte[] layer = tar(dirEntry("etc/", 0755), fileEntry("etc/hostname", "node-1\n", 0644),
        symlinkEntry("hostname", "etc/hostname"));

    private Path expected() throws IOException {
      return tree("expected", dir("etc", 0755), file("etc/hostname", "node-1\n", 0644),
          symlink("hostname", "etc/hostname"));
    }

    private AppliedLayer apply(byte[] tarBytes, Compression compression, Digest expectedDiffId, Path target)
        throws IOException {
      byte[] blob = compress(tarBytes, compression);
      return applier.apply(new LayerBlob(compression.ociMediaType(), new ByteArrayInputStream(blob), expectedDiffId,
          Map.of()), target, ApplyOptions.defaults());
    }

    @ParameterizedTest
    @EnumSource(Compression.class)
    void diffIdIsTheSha256OfTheUncompressedTar(Compression compression) throws Exception {
      Path target = tree("target");

      AppliedLayer applied = apply(layer, compression, null, target);

      assertThat(applied.diffId()).isEqualTo(sha256(layer));
      assertThat(applied.size()).isEqualTo(layer.length);
      assertThat(applied.compressedSize()).isEqualTo(compress(layer, compression).length);
      assertTreesEqual(expected(), target);
    }

    @ParameterizedTest
    @EnumSource(Compression.class)
    void diffIdCoversZeroPaddingAfterTheEndMarker(Compression compression) throws Exception {
      // GNU tar pads to 10240-byte records; the bytes after the end marker are part of the tar
      byte[] padded = Arrays.copyOf(layer, 3 * 10240);
      Path target = tree("target");

      AppliedLayer applied = apply(padded, compression, sha256(padded), target);

      assertThat(applied.diffId()).isEqualTo(sha256(padded)).isNotEqualTo(sha256(layer));
      assertThat(applied.size()).isEqualTo(padded.length);
      assertTreesEqual(expected(), target);
    }

    @Test
    void diffIdOfAGnuTarArchiveIsTheSha256OfTheWholeFile() throws Exception {
      Path src = expected();
      byte[] gnu = LayerFixture.gnuTar(src, "posix", "etc", "hostname");
      assertThat(gnu.length % 10240).as("GNU tar pads to whole records").isZero();
      Path target = tree("target");

      AppliedLayer applied = apply(gnu, Compression.GZIP, null, target);

      assertThat(applied.diffId()).isEqualTo(sha256(gnu));
      assertTreesEqual(src, target);
    }

    @Test
    void unexpectedDiffIdIsDataLoss() throws IOException {
      Path target = tree("target");
      Digest wrong = sha256("some other layer".getBytes());

      assertThatThrownBy(() -> apply(layer, Compression.GZIP, wrong, target))
          .isInstanceOfSatisfying(LaminaException.class, e -> assertThat(e.kind()).isEqualTo(ErrorKind.DATA_LOSS))
          .hasMessageContaining(wrong.toString())
          .hasMessageContaining(sha256(layer).toString());
    }

    private static Digest sha256(byte[] data) {
      try {
        return Digest.sha256(MessageDigest.getInstance("SHA-256").digest(data));
      } catch (java.security.NoSuchAlgorithmException e) {
        throw new IllegalStateException(e);
      }
    }

    private static byte[] compress(byte[] data, Compression compression) throws IOException {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      try (OutputStream c = compression.compressor(out)) {
        c.write(data);
      }
      return out.toByteArray();
    }
  }

  private static int highBytes(byte[] value) {
    int n = 0;
    for (byte b : value) {
      n += (b & 0x80) != 0 ? 1 : 0;
    }
    return n;
  }

  @Test
  void targetMustBeAnExistingDirectory() throws IOException {
    Path file = Files.writeString(tmp.resolve("file"), "x");

    assertThatThrownBy(() -> applyNaive(tar(), tmp.resolve("missing")))
        .isInstanceOfSatisfying(LaminaException.class, e -> assertThat(e.kind()).isEqualTo(ErrorKind.NOT_FOUND));
    assertThatThrownBy(() -> applyNaive(tar(), file))
        .isInstanceOfSatisfying(LaminaException.class, e -> assertThat(e.kind()).isEqualTo(ErrorKind.INVALID_ARGUMENT));
  }
}
