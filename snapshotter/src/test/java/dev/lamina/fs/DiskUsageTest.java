package dev.lamina.fs;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.fstest.FsTree;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DiskUsageTest {
  @TempDir Path tmp;

  @Test
  void matchesDuOnHardLinksSparseFilesAndManySmallFiles() throws Exception {
    Path root = tmp.resolve("tree");
    List<dev.lamina.fstest.FsOp> ops = new ArrayList<>();
    ops.add(FsTree.file("big", new byte[300_000], 0644));
    ops.add(FsTree.link("big-link", "big"));
    ops.add(FsTree.dir("sub/deeper", 0755));
    ops.add(FsTree.link("sub/deeper/big-link2", "big"));
    ops.add(FsTree.symlink("sub/to-big", "../big"));
    ops.add(FsTree.symlink("sub/outside", "/usr/bin"));
    ops.add(FsTree.fifo("sub/fifo", 0644));
    for (int i = 0; i < 700; i++) {
      ops.add(FsTree.file("many/f" + (i % 7) + "/small-" + i, "x".repeat(i % 50), 0644));
    }
    ops.add(FsTree.file("many/empty", "", 0644));
    FsTree.apply(root, ops);
    // sparse: 64 MiB apparent, a few blocks allocated
    try (RandomAccessFile f = new RandomAccessFile(root.resolve("sparse").toFile(), "rw")) {
      f.setLength(64L << 20);
      f.seek(32L << 20);
      f.write("middle".getBytes(StandardCharsets.UTF_8));
    }

    DiskUsage usage = DiskUsage.of(root);

    assertThat(usage.size()).isEqualTo(du(root, "--block-size=1"));
    assertThat(usage.inodes()).isEqualTo(du(root, "--inodes"));
    assertThat(usage.size()).as("sparse file counts its blocks, not its length").isLessThan(64L << 20);
  }

  @Test
  void singleFileAndEmptyDirectory() throws Exception {
    Path empty = Files.createDirectory(tmp.resolve("empty"));
    assertThat(DiskUsage.of(empty)).isEqualTo(new DiskUsage(du(empty, "--inodes"), du(empty, "--block-size=1")));
    Path file = Files.write(tmp.resolve("f"), new byte[10_000]);
    assertThat(DiskUsage.of(file)).isEqualTo(new DiskUsage(1, du(file, "--block-size=1")));
  }

  @Test
  void symlinkRootIsNotFollowed() throws Exception {
    Files.createDirectory(tmp.resolve("d"));
    Files.write(tmp.resolve("d/x"), new byte[100_000]);
    Path link = Files.createSymbolicLink(tmp.resolve("link"), tmp.resolve("d"));
    assertThat(DiskUsage.of(link).inodes()).isEqualTo(1);
    assertThat(DiskUsage.of(link).size()).isLessThan(100_000);
  }

  @Test
  void deepAndWideTreesWithLinksAcrossDirectoriesMatchDu() throws Exception {
    Path root = tmp.resolve("tree");
    List<dev.lamina.fstest.FsOp> ops = new ArrayList<>();
    String deep = "d/".repeat(200);
    ops.add(FsTree.file(deep + "bottom", new byte[5000], 0644));
    // wide: many directories, listed by several walkers at once, sharing hard-linked files
    for (int i = 0; i < 40; i++) {
      ops.add(FsTree.file("shared/f" + i, new byte[4096 * (i % 3 + 1)], 0644));
    }
    for (int d = 0; d < 300; d++) {
      ops.add(FsTree.file("wide/" + d + "/own", new byte[d * 10], 0644));
      ops.add(FsTree.link("wide/" + d + "/same", "shared/f" + (d % 40)));
    }
    FsTree.apply(root, ops);

    DiskUsage usage = DiskUsage.of(root);

    assertThat(usage.size()).isEqualTo(du(root, "--block-size=1"));
    assertThat(usage.inodes()).isEqualTo(du(root, "--inodes"));
  }

  static long du(Path p, String mode) throws IOException, InterruptedException {
    Process proc = new ProcessBuilder("du", "-s", mode, p.toString()).redirectErrorStream(true).start();
    String out = new String(proc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(proc.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(proc.exitValue()).as(out).isZero();
    return Long.parseLong(out.split("\\s+")[0]);
  }
}
