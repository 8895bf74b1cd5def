package dev.lamina.snapshots.copying;

import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.SnapshotterConformanceTest;
import dev.lamina.snapshots.storage.DirectorySnapshotter;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The conformance suite on the copying snapshotter. As root its bind mounts are really mounted;
 * without root the suite reads and writes the bind sources directly.
 */
class CopyingSnapshotterTest extends SnapshotterConformanceTest {
  @Override
  protected Snapshotter create(Path root) throws IOException {
    return CopyingSnapshotter.open(root);
  }

  @Override
  protected Path directoryOf(Snapshotter sn, String key) throws IOException {
    return ((DirectorySnapshotter) sn).directoryOf(key);
  }

  @Override
  protected boolean usageIncludesParents() {
    return true;
  }
}
