package dev.lamina.snapshots.overlay;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.fstest.Root;
import dev.lamina.posix.Posix;
import dev.lamina.quota.LoopFilesystem;
import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.SnapshotterConformanceTest;
import dev.lamina.snapshots.storage.DirectorySnapshotter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole conformance suite with the overlay snapshotter on an ext4 with project quotas, where
 * active snapshots are measured by quotactl. Each test's root and scratch directory live on that
 * filesystem, and each root's snapshots directory has a project ID of its own as the base.
 */
class OverlayProjectQuotaConformanceTest extends SnapshotterConformanceTest {
  @TempDir static Path fsDir;
  static LoopFilesystem fs;
  private static int roots;

  @BeforeAll
  static void mountProjectQuotaFilesystem() throws Exception {
    Root.assumeRoot("loop and overlay mounts");
    fs = LoopFilesystem.projectQuotaExt4(fsDir);
    Assumptions.assumeTrue(OverlaySnapshotter.supported(fs.root().resolve("overlay-check")),
        "overlayfs cannot mount with upper dirs on ext4 here");
  }

  @AfterAll
  static void unmount() throws Exception {
    if (fs != null) {
      fs.close();
    }
  }

  @Override
  protected Snapshotter create(Path r) throws IOException {
    if (!r.startsWith(fs.root())) {
      Path onFs = fs.root().resolve("t" + (++roots));
      Path snapshots = Files.createDirectories(onFs.resolve("root/snapshots"));
      Posix.get().fsSetXattr(snapshots, Posix.get().fsGetXattr(snapshots).withInheritedProject(1_000_000L * roots));
      root = onFs.resolve("root");
      work = Files.createDirectories(onFs.resolve("work"));
      r = root;
    }
    OverlaySnapshotter sn = OverlaySnapshotter.open(r);
    assertThat(sn.measuresByProjectQuota()).isTrue();
    return sn;
  }

  @Override
  protected Path directoryOf(Snapshotter sn, String key) throws IOException {
    return ((DirectorySnapshotter) sn).directoryOf(key);
  }

  @Override
  protected boolean supportsDirectoryRename() {
    return false;
  }
}
