package dev.lamina.snapshots.overlay;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.fstest.FsTree;
import dev.lamina.mount.TempMounts;
import dev.lamina.posix.FsXattr;
import dev.lamina.posix.Posix;
import dev.lamina.quota.ProjectQuotaFilesystem;
import dev.lamina.quota.ProjectQuota;
import dev.lamina.snapshots.Usage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The overlay snapshotter on an ext4 with project quotas: an active snapshot's usage comes from
 * quotactl and equals {@code du -s --block-size=1} and {@code du -s --inodes} of its upper dir,
 * mounted or not, after writes, hard links, sparse files, copy-ups and whiteouts.
 */
class OverlayProjectQuotaTest {
  @RegisterExtension
  static final ProjectQuotaFilesystem fs = new ProjectQuotaFilesystem(
      "overlayfs cannot mount with upper dirs on ext4 here", OverlaySnapshotter::supported);

  private static int counter;

  /** A root whose snapshots directory has project ID {@code base}. */
  private static Path newRoot(long base) throws IOException {
    return fs.rootWithProjectBase("root-" + (++counter), base);
  }

  private static Path newRoot() throws IOException {
    return newRoot(100_000L * (counter + 1));
  }

  @Test
  void aContainersLayerIsMeasuredByItsProjectExactlyAsDuMeasuresItsUpperDir() throws Exception {
    try (OverlaySnapshotter sn = OverlaySnapshotter.open(newRoot())) {
      assertThat(sn.measuresByProjectQuota()).isTrue();
      String image = ContainerLayers.imageLayer(sn);
      sn.prepare("container", image, ContainerLayers.LABELS);
      Path dir = sn.directoryOf("container");
      long id = Long.parseLong(dir.getFileName().toString());
      assertThat(Posix.get().fsGetXattr(dir.resolve("fs")).projectId()).isEqualTo(100_000L * counter + id);
      ContainerLayers.assertMatchesDu(sn, "container");

      TempMounts.withTempMount(fs.root(), sn.mounts("container"), merged -> {
        ContainerLayers.writeLikeAContainer(merged);
        ContainerLayers.assertMatchesDu(sn, "container"); // mounted: overlayfs's work/work exists now
        return null;
      });
      ContainerLayers.assertMatchesDu(sn, "container");
      assertThat(sn.usage("container").inodes()).isGreaterThan(600);
    }
  }

  @Test
  void theAnswerComesFromQuotactlNotFromAWalk() throws Exception {
    try (OverlaySnapshotter sn = OverlaySnapshotter.open(fs.root().resolve("default-base"))) {
      sn.prepare("container", "", ContainerLayers.LABELS);
      Path dir = sn.directoryOf("container");
      long projectId = ProjectQuota.DEFAULT_BASE + Long.parseLong(dir.getFileName().toString());
      Usage before = sn.usage("container");
      // a directory elsewhere charged to the same project: only quotactl can see it
      Path elsewhere = Files.createDirectory(tmpOnFs("elsewhere"));
      Posix.get().fsSetXattr(elsewhere, Posix.get().fsGetXattr(elsewhere).withInheritedProject(projectId));
      Files.write(elsewhere.resolve("f"), new byte[10_000]);
      Usage after = sn.usage("container");
      assertThat(after.inodes()).isEqualTo(before.inodes() + 2);
      assertThat(after.size()).isEqualTo(before.size() + ContainerLayers.du(elsewhere, "--block-size=1"));
    }
  }

  @Test
  void aSnapshotPreparedWithoutAProjectIdIsWalked() throws Exception {
    try (OverlaySnapshotter sn = OverlaySnapshotter.open(newRoot())) {
      String image = ContainerLayers.imageLayer(sn);
      sn.prepare("old", image, ContainerLayers.LABELS);
      Path dir = sn.directoryOf("old");
      long projectId = Posix.get().fsGetXattr(dir.getParent()).projectId() + Long.parseLong(dir.getFileName().toString());
      assertThat(Posix.get().fsGetXattr(dir).projectId()).isEqualTo(projectId);
      // what an older version (or a filesystem without quotas then) left: no project IDs
      for (Path p : new Path[] {dir, dir.resolve("fs"), dir.resolve("work")}) {
        FsXattr x = Posix.get().fsGetXattr(p);
        Posix.get().fsSetXattr(p, new FsXattr(x.xflags() & ~FsXattr.FS_XFLAG_PROJINHERIT, x.extsize(), x.nextents(), 0,
            x.cowextsize()));
      }
      Path elsewhere = Files.createDirectory(tmpOnFs("charged-elsewhere"));
      Posix.get().fsSetXattr(elsewhere, Posix.get().fsGetXattr(elsewhere).withInheritedProject(projectId));
      TempMounts.withTempMount(fs.root(), sn.mounts("old"), merged -> {
        ContainerLayers.writeLikeAContainer(merged);
        return null;
      });
      ContainerLayers.assertMatchesDu(sn, "old");
    }
  }

  @Test
  void anIdChargedElsewhereIsNotTakenAndTheSnapshotIsWalked() throws Exception {
    long base = 7_000_000;
    try (OverlaySnapshotter first = OverlaySnapshotter.open(newRoot(base));
        OverlaySnapshotter second = OverlaySnapshotter.open(newRoot(base))) {
      first.prepare("a", ContainerLayers.imageLayer(first), ContainerLayers.LABELS);
      second.prepare("b", ContainerLayers.imageLayer(second), ContainerLayers.LABELS);
      Path dirA = first.directoryOf("a");
      Path dirB = second.directoryOf("b");
      assertThat(dirA.getFileName()).isEqualTo(dirB.getFileName());
      assertThat(Posix.get().fsGetXattr(dirB).projectId()).as("the second root's snapshot has no project").isNotEqualTo(
          Posix.get().fsGetXattr(dirA).projectId());
      for (OverlaySnapshotter sn : new OverlaySnapshotter[] {first, second}) {
        String key = sn == first ? "a" : "b";
        TempMounts.withTempMount(fs.root(), sn.mounts(key), merged -> {
          ContainerLayers.writeLikeAContainer(merged);
          return null;
        });
      }
      ContainerLayers.assertMatchesDu(first, "a");
      ContainerLayers.assertMatchesDu(second, "b");
    }
  }

  @Test
  void committedSnapshotsKeepTheUsageRecordedAtCommit() throws Exception {
    try (OverlaySnapshotter sn = OverlaySnapshotter.open(newRoot())) {
      sn.prepare("layer-prepare", "", ContainerLayers.LABELS);
      TempMounts.withTempMount(fs.root(), sn.mounts("layer-prepare"), merged -> {
        FsTree.apply(merged, FsTree.file("a", new byte[50_000], 0644), FsTree.dir("d", 0755));
        return null;
      });
      Usage active = sn.usage("layer-prepare");
      sn.commit("layer", "layer-prepare", "", ContainerLayers.LABELS);
      assertThat(sn.usage("layer")).isEqualTo(active);
    }
  }

  private Path tmpOnFs(String name) {
    return fs.root().resolve(name + "-" + (++counter));
  }
}
