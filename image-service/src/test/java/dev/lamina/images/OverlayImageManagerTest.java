package dev.lamina.images;

import dev.lamina.fstest.Root;
import dev.lamina.fstest.TreeSnapshot;
import dev.lamina.mount.Mount;
import dev.lamina.mount.TempMounts;
import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.overlay.OverlaySnapshotter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;

/**
 * The image manager on overlayfs: layers unpacked in parallel, each without its parents, and
 * rebased at commit; the image's rootfs is really mounted to be compared. Needs root.
 */
class OverlayImageManagerTest extends ImageManagerConformanceTest {
  @BeforeAll
  static void needOverlay() {
    Root.assumeRoot("overlay mounts, whiteout devices and trusted.* xattrs");
    Path tmp = Path.of(System.getProperty("java.io.tmpdir"));
    Assumptions.assumeTrue(OverlaySnapshotter.supported(tmp),
        () -> "overlayfs cannot mount with upper dirs on the filesystem of " + tmp);
  }

  @Override
  Snapshotter openSnapshotter(Path root) throws IOException {
    return OverlaySnapshotter.open(root);
  }

  /** Mounts a view of the top chain ID, as a container's rootfs would be, and reads it. */
  @Override
  TreeSnapshot rootfs(ImageRecord image) throws IOException {
    String key = "test-view-" + System.nanoTime();
    List<Mount> mounts = snapshotter.view(key, image.chainIds().get(image.chainIds().size() - 1).toString(), null);
    try {
      return TempMounts.withTempMount(tmp, mounts, TreeSnapshot::of);
    } finally {
      snapshotter.remove(key);
    }
  }
}
