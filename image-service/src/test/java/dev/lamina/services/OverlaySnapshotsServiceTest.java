package dev.lamina.services;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.overlay.OverlaySnapshotter;
import java.io.IOException;
import java.nio.file.Path;

/** The Snapshots API over the real overlay snapshotter (root, and overlayfs on the temp dir). */
class OverlaySnapshotsServiceTest extends SnapshotsServiceTest {
  @Override
  Snapshotter create(Path root) throws IOException {
    assumeTrue(OverlaySnapshotter.supported(root.resolve("probe")), "overlayfs with upper dirs needs root");
    return OverlaySnapshotter.open(root);
  }
}
