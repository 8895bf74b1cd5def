package dev.lamina.fs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.fstest.FsOp;
import dev.lamina.fstest.FsTree;
import dev.lamina.fstest.Root;
import dev.lamina.fstest.TreeAssert;
import dev.lamina.fstest.TreeSnapshot;
import dev.lamina.posix.Posix;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CopyDirTest {
  @TempDir Path tmp;

  private static final long MTIME = 1_600_000_000_123_456_789L;

  @Test
  void copiesTypesModesLinksAndMtimes() throws Exception {
    Path src = tmp.resolve("src");
    List<FsOp> ops = new ArrayList<>(List.of(
        FsTree.dir("etc", 0755),
        FsTree.file("etc/passwd", "root:x:0:0\n", 0644),
        FsTree.file("bin/tool", "#!/bin/sh\n", 04755),
        FsTree.link("bin/tool-again", "bin/tool"),
        FsTree.link("etc/tool-third", "bin/tool"),
        FsTree.symlink("bin/sh", "busybox"),
        FsTree.symlink("abs", "/etc/passwd"),
        FsTree.fifo("run/fifo", 0600),
        FsTree.dir("tmp", 01777),
        FsTree.dir("locked", 0500),
        FsTree.file("empty", "", 0600)));
    for (String p : List.of("etc/passwd", "bin/tool", "bin/sh", "run/fifo", "tmp", "empty", "etc", "bin", "run")) {
      ops.add(FsTree.mtime(p, MTIME));
    }
    FsTree.apply(src, ops);
    Posix.get().utimes(src.resolve("locked"), MTIME, MTIME);
    Posix.get().utimes(src, MTIME, MTIME);
    Path dst = Files.createDirectory(tmp.resolve("dst"));

    CopyDir.copy(src, dst);

    TreeAssert.assertTreesEqual(src, dst, TreeSnapshot.Options.DEFAULT.withMtimes().includingRoot());
    assertThat(Posix.get().lstat(dst.resolve("bin/tool")).nlink()).isEqualTo(3);
    assertThat(Posix.get().lstat(dst).mtimeNanos()).isEqualTo(MTIME);
  }

  @Test
  void copiesOwnersDevicesAndXattrsAsRoot() throws Exception {
    Root.assumeRoot();
    Path src = tmp.resolve("src");
    FsTree.apply(src,
        FsTree.file("owned", "x", 04755),
        FsTree.chown("owned", 1000, 1001),
        FsTree.dir("d", 0750),
        FsTree.chown("d", 33, 33),
        FsTree.symlink("link", "owned"),
        FsTree.chown("link", 7, 8),
        FsTree.chardev("dev/null", 1, 3, 0666),
        FsTree.blockdev("dev/loop0", 7, 0, 0660),
        FsTree.chardev("wh", 0, 0, 0),
        FsTree.xattr("owned", "trusted.overlay.opaque", "y"),
        FsTree.xattr("d", "trusted.lamina", "dir"),
        FsTree.xattr("owned", "security.capability", new byte[] {1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
    if (Root.supportsUserXattrs(tmp)) {
      FsTree.apply(src, FsTree.xattr("owned", "user.note", "hello"));
    }
    Path dst = Files.createDirectory(tmp.resolve("dst"));

    CopyDir.copy(src, dst);

    TreeAssert.assertTreesEqual(src, dst, TreeSnapshot.Options.DEFAULT.withMtimes().includingRoot());
  }

  @Test
  void mergeAppliesAnOverlayLayerWithWhiteoutsAndOpaqueDirs() throws Exception {
    Root.assumeRoot("whiteout devices and trusted.overlay xattrs");
    Path base = tmp.resolve("base");
    FsTree.apply(base,
        FsTree.file("keep", "keep", 0644),
        FsTree.file("replace", "old", 0644),
        FsTree.file("gone", "gone", 0644),
        FsTree.file("dir/old", "old", 0644),
        FsTree.file("dir/kept", "kept", 0644),
        FsTree.file("opaque/hidden", "hidden", 0644),
        FsTree.file("file-to-dir", "f", 0644),
        FsTree.file("dir-to-file/x", "x", 0644),
        FsTree.dir("tmp", 01777));
    Path layer = tmp.resolve("layer");
    FsTree.apply(layer,
        FsTree.file("replace", "new", 0600),
        FsTree.chardev("gone", 0, 0, 0),
        FsTree.chardev("dir/old", 0, 0, 0),
        FsTree.file("dir/new", "new", 0644),
        FsTree.dir("dir", 0700),
        FsTree.file("opaque/shown", "shown", 0644),
        FsTree.xattr("opaque", "trusted.overlay.opaque", "y"),
        FsTree.file("file-to-dir/inside", "in", 0644),
        FsTree.file("dir-to-file", "now a file", 0644),
        FsTree.chardev("never-existed", 0, 0, 0),
        FsTree.dir("newdir", 0755),
        FsTree.chardev("newdir/whiteout-in-new-dir", 0, 0, 0));
    Path expected = tmp.resolve("expected");
    FsTree.apply(expected,
        FsTree.file("keep", "keep", 0644),
        FsTree.file("replace", "new", 0600),
        FsTree.file("dir/kept", "kept", 0644),
        FsTree.file("dir/new", "new", 0644),
        FsTree.dir("dir", 0700),
        FsTree.file("opaque/shown", "shown", 0644),
        FsTree.file("file-to-dir/inside", "in", 0644),
        FsTree.file("dir-to-file", "now a file", 0644),
        FsTree.dir("newdir", 0755),
        FsTree.dir("tmp", 01777));
    Path merged = Files.createDirectory(tmp.resolve("merged"));
    CopyDir.copy(base, merged);

    CopyDir.merge(layer, merged);

    TreeAssert.assertTreesEqual(expected, merged);
  }
}
