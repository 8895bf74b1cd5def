package dev.lamina.images;

import dev.lamina.fstest.TreeSnapshot;
import dev.lamina.mount.Mount;
import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.copying.CopyingSnapshotter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** The image manager on the copying snapshotter: layers applied one after another; no root needed. */
class CopyingImageManagerTest extends ImageManagerConformanceTest {
  @Override
  Snapshotter openSnapshotter(Path root) throws IOException {
    return CopyingSnapshotter.open(root);
  }

  /** A view of the top chain ID binds its full tree: read it without mounting. */
  @Override
  TreeSnapshot rootfs(ImageRecord image) throws IOException {
    String key = "test-view-" + System.nanoTime();
    List<Mount> mounts = snapshotter.view(key, image.chainIds().get(image.chainIds().size() - 1).toString(), null);
    try {
      return TreeSnapshot.of(Path.of(mounts.get(0).source()));
    } finally {
      snapshotter.remove(key);
    }
  }
}
