package dev.lamina.server;

import dev.lamina.images.ImageManager;
import dev.lamina.images.OwnedSnapshots;
import dev.lamina.services.RemovalGuard;
import dev.lamina.snapshots.Info;
import dev.lamina.snapshots.Snapshotter;
import java.io.Closeable;
import java.io.IOException;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Snapshots API's side of the image store: a Remove of a snapshot the image manager made is
 * refused ({@link OwnedSnapshots}), and once a snapshot on one of its layers is removed (a
 * container's, by containerd), the image manager collects soon after: that snapshot may have
 * been the last thing keeping the layers of a removed image.
 */
final class ImageStoreGuard implements RemovalGuard, Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(ImageStoreGuard.class);
  /** Removes come in bursts (a pod's containers): one collection after the burst. */
  private static final long COLLECT_AFTER_MS = 1000;

  private final Snapshotter snapshotter;
  private final ImageManager images;
  private final ScheduledExecutorService collector = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "lamina-collect");
    t.setDaemon(true);
    return t;
  });
  private final AtomicBoolean scheduled = new AtomicBoolean();

  ImageStoreGuard(Snapshotter snapshotter, ImageManager images) {
    this.snapshotter = snapshotter;
    this.images = images;
  }

  @Override
  public Optional<String> whyKept(Info snapshot) {
    return OwnedSnapshots.whyKept(snapshot);
  }

  @Override
  public void removed(Info snapshot) {
    if (images == null || snapshot.parent().isEmpty() || !onImageLayer(snapshot.parent())) {
      return;
    }
    if (scheduled.compareAndSet(false, true)) {
      collector.schedule(() -> {
        scheduled.set(false);
        try {
          images.collectGarbage();
        } catch (IOException | RuntimeException e) {
          LOG.warn("collecting image layers after snapshot removals failed: {}", e.toString());
        }
      }, COLLECT_AFTER_MS, TimeUnit.MILLISECONDS);
    }
  }

  private boolean onImageLayer(String parent) {
    try {
      return OwnedSnapshots.whyKept(snapshotter.stat(parent)).isPresent();
    } catch (IOException e) {
      return false; // gone already, or unreadable: nothing to collect on its account
    }
  }

  @Override
  public void close() {
    collector.shutdownNow();
  }
}
