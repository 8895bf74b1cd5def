package dev.lamina.quota;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.fs.DiskUsage;
import dev.lamina.fstest.FsOp;
import dev.lamina.fstest.FsTree;
import dev.lamina.posix.DiskQuota;
import dev.lamina.posix.Posix;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Project quotas on a real ext4 with {@code -O quota,project} mounted {@code prjquota}. */
class ProjectQuotaTest {
  @RegisterExtension static final ProjectQuotaFilesystem fs = new ProjectQuotaFilesystem();

  private static ProjectQuota probe(Path dir) throws IOException {
    ProjectQuota.Probe probe = ProjectQuota.probe(dir, dir.resolve("quota-device"));
    assertThat(probe.quota()).as(probe.description()).isPresent();
    return probe.quota().get();
  }

  @Test
  void probeFindsQuotasAndLeavesNothingButTheDeviceNode() throws Exception {
    Path dir = Files.createDirectory(fs.root().resolve("probe"));
    ProjectQuota quota = probe(dir);
    assertThat(quota.base()).isEqualTo(ProjectQuota.DEFAULT_BASE);
    try (var s = Files.list(dir)) {
      assertThat(s.map(p -> p.getFileName().toString())).containsExactly("quota-device");
    }
    assertThat(quota.projectId(1)).contains(ProjectQuota.DEFAULT_BASE + 1);
    assertThat(quota.projectId(0xffff_ffffL)).isEmpty();
  }

  @Test
  void theBaseIsTheProbedDirectorysOwnProjectId() throws Exception {
    Path dir = Files.createDirectory(fs.root().resolve("based"));
    Posix.get().fsSetXattr(dir, Posix.get().fsGetXattr(dir).withInheritedProject(5000));
    assertThat(probe(dir).projectId(7)).contains(5007L);
  }

  /** The charge of a project equals du of the tree carrying it, root directory included. */
  @Test
  void usageOfATreeWithHardLinksSparseFilesAndNestedDirsIsDus() throws Exception {
    Path dir = Files.createDirectory(fs.root().resolve("tree-parent"));
    ProjectQuota quota = probe(dir);
    Path tree = Files.createDirectory(dir.resolve("tree"));
    long id = quota.projectId(42).orElseThrow();
    quota.assign(tree, id);
    assertThat(quota.projectIdOf(tree)).isEqualTo(id);
    assertThat(quota.usage(id)).isEqualTo(new DiskQuota(du(tree, "--block-size=1"), 1));

    List<FsOp> ops = new ArrayList<>();
    ops.add(FsTree.file("big", new byte[300_000], 0644));
    ops.add(FsTree.link("big-link", "big"));
    ops.add(FsTree.link("a/b/c/big-link2", "big"));
    ops.add(FsTree.symlink("a/to-big", "../big"));
    ops.add(FsTree.symlink("a/long-target", "x".repeat(200)));
    ops.add(FsTree.fifo("a/fifo", 0644));
    ops.add(FsTree.file("a/b/empty", "", 0644));
    for (int i = 0; i < 300; i++) {
      ops.add(FsTree.file("many/f" + (i % 5) + "/small-" + i, "y".repeat(i % 70), 0644));
    }
    FsTree.apply(tree, ops);
    try (RandomAccessFile f = new RandomAccessFile(tree.resolve("sparse").toFile(), "rw")) {
      f.setLength(64L << 20);
      f.seek(32L << 20);
      f.write("middle".getBytes(StandardCharsets.UTF_8));
    }
    // too big for the inode: an xattr block (mkfs makes 1 KiB blocks on a 256 MiB image)
    Posix.get().setxattr(tree.resolve("a/b/empty"), "user.big", new byte[700]);

    DiskQuota charged = quota.usage(id);
    assertThat(charged.spaceBytes()).as("allocated bytes, delayed allocation included").isEqualTo(du(tree, "--block-size=1"));
    assertThat(charged.inodes()).isEqualTo(du(tree, "--inodes"));
    assertThat(new DiskUsage(charged.inodes(), charged.spaceBytes())).isEqualTo(DiskUsage.of(tree));

    Files.delete(tree.resolve("big"));
    Files.delete(tree.resolve("sparse"));
    assertThat(quota.usage(id).spaceBytes()).isEqualTo(du(tree, "--block-size=1"));
  }

  static long du(Path p, String mode) throws IOException, InterruptedException {
    Process proc = new ProcessBuilder("du", "-s", mode, p.toString()).redirectErrorStream(true).start();
    String out = new String(proc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(proc.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(proc.exitValue()).as(out).isZero();
    return Long.parseLong(out.split("\\s+")[0]);
  }
}
