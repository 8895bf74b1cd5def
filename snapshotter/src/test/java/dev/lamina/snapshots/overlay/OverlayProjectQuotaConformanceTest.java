package dev.lamina.snapshots.overlay;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.quota.ProjectQuotaFilesystem;
import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.SnapshotterConformanceTest;
import dev.lamina.snapshots.storage.DirectorySnapshotter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The whole conformance suite with the overlay snapshotter on an ext4 with project quotas, where
 * active snapshots are measured by quotactl. Each test's root and scratch directory live on that
 * filesystem, and each root's snapshots directory has a project ID of its own as the base.
 */
class OverlayProjectQuotaConformanceTest extends SnapshotterConformanceTest {
  @RegisterExtension
  static final ProjectQuotaFilesystem fs = new ProjectQuotaFilesystem(
      "overlayfs cannot mount with upper dirs on ext4 here", OverlaySnapshotter::supported);
  private static int roots;

  @Override
  protected Snapshotter create(Path r) throws IOException {
    if (!r.startsWith(fs.root())) {
      roots++;
      root = fs.rootWithProjectBase("t" + roots + "/root", 1_000_000L * roots);
      work = Files.createDirectories(root.resolveSibling("work"));
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
