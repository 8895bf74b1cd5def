package dev.lamina.images;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.posix.Posix;
import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.Usage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The commit step, in chain order, a batch of unpacked layers at a time: each layer's implicit
 * directories take the attributes the parent chain has ({@link ImplicitDirectories}), one
 * {@code syncfs} covers the batch (unless one that started after its last change already did),
 * then each commits under its chain ID onto the one below, and its usage is counted.
 */
final class LayerCommitter {
  private static final Logger LOG = LoggerFactory.getLogger(LocalImageManager.class);

  private final Snapshotter snapshotter;
  private final UnpackStrategy strategy;
  private final Extractions extractions;
  private final UsageCounters usage;
  private final Posix posix = Posix.get();
  /** The latest start (System.nanoTime) of a syncfs that has finished: it covers every change before. */
  private final AtomicLong lastFlush = new AtomicLong(Long.MIN_VALUE);

  LayerCommitter(Snapshotter snapshotter, UnpackStrategy strategy, Extractions extractions, UsageCounters usage) {
    this.snapshotter = snapshotter;
    this.strategy = strategy;
    this.extractions = extractions;
    this.usage = usage;
  }

  /** Fixes, flushes and commits {@code batch}, the layers from {@code first} up, unpacked all. */
  void commit(PullContext c, List<LayerJob> batch, int first, LowerDirs dirs) throws IOException {
    for (int k = 0; k < batch.size(); k++) {
      fix(c, batch.get(k), first + k, dirs);
    }
    flush(batch);
    for (int k = 0; k < batch.size(); k++) {
      commit(c, batch.get(k), first + k, dirs);
    }
  }

  private void fix(PullContext c, LayerJob job, int index, LowerDirs dirs) throws IOException {
    synchronized (job) {
      if (job.fixed || job.committed) {
        return;
      }
      LayerJob.Unpacked u = job.unpacked.getNow(null);
      job.dirtyAt = u.finishedAt();
      if (u.key() == null) {
        job.fixed = true;
        return;
      }
      List<String> implicit = u.stats().implicitDirectories();
      if (strategy.fixesImplicitDirectories() && !implicit.isEmpty()) {
        try {
          ImplicitDirectories.Result r = new ImplicitDirectories(u.dir(), dirs.below(index)).fix(implicit);
          LOG.debug("pull {}: layer {}: {} implicit directories took their parents' attributes, {} phantom ones removed",
              c.ref, job.blob.digest(), r.fixed(), r.removed());
        } catch (IOException e) {
          throw LayerUnpacker.layerError(c, job, e);
        }
        job.dirtyAt = System.nanoTime();
      }
      job.fixed = true;
    }
  }

  /** One syncfs for the batch, unless one that started after the batch's last change covers it. */
  private void flush(List<LayerJob> batch) throws IOException {
    long newest = Long.MIN_VALUE;
    Path any = null;
    for (LayerJob job : batch) {
      synchronized (job) {
        Path dir = job.unpacked.getNow(null).dir();
        if (!job.committed && dir != null) {
          newest = Math.max(newest, job.dirtyAt);
          any = dir;
        }
      }
    }
    if (any == null || lastFlush.get() > newest) {
      return;
    }
    long start = System.nanoTime();
    posix.syncfs(any);
    flushedFrom(start);
    LOG.debug("syncfs for {} layers took {} ms", batch.size(), (System.nanoTime() - start) / 1_000_000);
  }

  /** A syncfs that started at {@code start} has finished (this one's, or {@link EarlyWriteback}'s). */
  void flushedFrom(long start) {
    lastFlush.accumulateAndGet(start, Math::max);
  }

  private void commit(PullContext c, LayerJob job, int index, LowerDirs dirs) throws IOException {
    synchronized (job) {
      LayerJob.Unpacked u = job.unpacked.getNow(null);
      if (!job.committed && u.key() == null) {
        job.committedDir = null; // found committed before unpacking
        job.committed = true;
      }
      if (!job.committed) {
        String name = job.chainId.toString();
        try {
          long start = System.nanoTime();
          snapshotter.commit(name, u.key(), job.parent, ContentBlobs.committedLabels(name));
          LOG.debug("pull {}: layer {} committed in {} ms", c.ref, job.blob.digest(),
              (System.nanoTime() - start) / 1_000_000);
          Usage used = snapshotter.usage(name);
          usage.add(used.size(), used.inodes());
          job.committedDir = u.dir();
        } catch (LaminaException e) {
          if (e.kind() != ErrorKind.ALREADY_EXISTS) {
            throw LayerUnpacker.layerError(c, job, e);
          }
          // committed meanwhile by a pull that unpacked the same layers on its own
          extractions.removeQuietly(u.key());
          job.committedDir = null;
        }
        job.committed = true;
      }
      dirs.known(index, job.committedDir);
    }
    c.listener.layerDone(job.blob.digest(), false);
  }
}
