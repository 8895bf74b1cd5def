package dev.lamina.snapshots.overlay;

import dev.lamina.fstest.Root;
import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.SnapshotterConformanceTest;
import dev.lamina.snapshots.storage.DirectorySnapshotter;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;

/** The conformance suite on overlayfs: needs root and a kernel that mounts overlay on the temp dir's filesystem. */
class OverlaySnapshotterTest extends SnapshotterConformanceTest {
  @BeforeAll
  static void needOverlay() {
    Root.assumeRoot("overlay and bind mounts");
    Path tmp = Path.of(System.getProperty("java.io.tmpdir"));
    Assumptions.assumeTrue(OverlaySnapshotter.supported(tmp),
        () -> "overlayfs cannot mount with upper dirs on the filesystem of " + tmp + " (no overlay module, or an unsupported backing filesystem)");
  }

  @Override
  protected Snapshotter create(Path root) throws IOException {
    return OverlaySnapshotter.open(root);
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
