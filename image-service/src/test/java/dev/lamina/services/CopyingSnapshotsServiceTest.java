package dev.lamina.services;

import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.copying.CopyingSnapshotter;
import java.io.IOException;
import java.nio.file.Path;

/** The Snapshots API over the real copying snapshotter. */
class CopyingSnapshotsServiceTest extends SnapshotsServiceTest {
  @Override
  Snapshotter create(Path root) throws IOException {
    return CopyingSnapshotter.open(root);
  }
}
