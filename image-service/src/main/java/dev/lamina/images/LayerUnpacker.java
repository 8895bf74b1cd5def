package dev.lamina.images;

import dev.lamina.content.Writer;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.mount.Mount;
import dev.lamina.snapshots.Snapshotter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Semaphore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The unpack step of one layer job: a snapshot prepared as the {@link UnpackStrategy} says, the
 * blob fetched into it ({@link LayerFetcher}), and the result published to every pull holding the
 * job. Nothing stays on failure: the prepared snapshot is removed, the ingest aborted unless the
 * network failed. Bounded by the pull's own semaphore (side by side only) and the global one.
 */
final class LayerUnpacker {
  private static final Logger LOG = LoggerFactory.getLogger(LocalImageManager.class);

  private final Snapshotter snapshotter;
  private final UnpackStrategy strategy;
  private final LayerFetcher fetcher;
  private final LayerJobs jobs;
  private final Extractions extractions;
  private final Semaphore global;
  private final EarlyWriteback writeback;

  LayerUnpacker(Snapshotter snapshotter, UnpackStrategy strategy, LayerFetcher fetcher, LayerJobs jobs,
      Extractions extractions, Semaphore global, EarlyWriteback writeback) {
    this.snapshotter = snapshotter;
    this.strategy = strategy;
    this.fetcher = fetcher;
    this.jobs = jobs;
    this.extractions = extractions;
    this.global = global;
    this.writeback = writeback;
  }

  /** Runs the job to its end; its outcome is in {@link LayerJob#unpacked}, never thrown. */
  void run(LayerJob job, PullContext c) {
    Writer pending = null;
    try {
      boolean perPull = false;
      boolean total = false;
      try {
        if (strategy.sideBySide()) {
          c.perPull.acquire();
          perPull = true;
        }
        global.acquire();
        total = true;
        if (job.abandoned) {
          throw abandoned();
        }
        LayerJob.Unpacked u;
        if (extractions.isCommitted(job.chainId.toString())) {
          u = new LayerJob.Unpacked(null, null, null, 0, System.nanoTime()); // committed meanwhile
        } else {
          Done d = unpack(job, c);
          u = d.unpacked();
          pending = d.pendingBlob();
          c.unpacked.incrementAndGet();
        }
        if (!jobs.publish(job, u)) {
          if (u.key() != null) {
            extractions.removeQuietly(u.key());
          }
          job.unpacked.completeExceptionally(abandoned());
        }
      } finally {
        if (total) {
          global.release();
        }
        if (perPull) {
          c.perPull.release();
        }
      }
      if (pending != null) {
        // Verified already: the commit (an fsync, a link) runs while the snapshots commit.
        Writer w = pending;
        pending = null;
        fetcher.keepBlob(job, c, w);
      }
    } catch (Throwable t) {
      job.unpacked.completeExceptionally(layerError(c, job, t));
    } finally {
      if (pending != null) {
        fetcher.discard(pending);
      }
      job.finished.complete(null);
    }
  }

  /** An unpacked layer, and the verified ingest of its blob still to commit (or null). */
  private record Done(LayerJob.Unpacked unpacked, Writer pendingBlob) {}

  static LaminaException abandoned() {
    return new LaminaException(ErrorKind.UNAVAILABLE, "abandoned: no pull needs the layer any more");
  }

  static LaminaException layerError(PullContext c, LayerJob job, Throwable t) {
    ErrorKind kind = t instanceof InterruptedException ? ErrorKind.UNAVAILABLE : LaminaException.kindOf(t);
    if (t instanceof InterruptedException) {
      Thread.currentThread().interrupt();
    }
    String why = t.getMessage() == null ? t.toString() : t.getMessage();
    return new LaminaException(kind, "pull " + c.ref + ": layer " + job.blob.digest() + ": " + why, t);
  }

  /** Prepares the snapshot, streams the blob into it and verifies both; nothing stays on failure. */
  private Done unpack(LayerJob job, PullContext c) throws IOException {
    String key = Extractions.extractKey(job.chainId);
    List<Mount> mounts = snapshotter.prepare(key, strategy.preparedParent(job), Extractions.labels(job.chainId));
    boolean ok = false;
    long start = System.nanoTime();
    LayerFetcher.Applied a = null;
    try {
      Path dir = SnapshotDirs.writable(key, mounts);
      writeback.begin(dir);
      try {
        a = fetcher.applyBlob(job, c, dir);
      } finally {
        writeback.end();
      }
      c.downloaded.addAndGet(a.downloaded());
      if (LOG.isDebugEnabled()) {
        LOG.debug("pull {}: layer {} unpacked in {} ms: {} entries, {} bytes downloaded", c.ref, job.blob.digest(),
            (System.nanoTime() - start) / 1_000_000, a.stats().entries(), a.downloaded());
      }
      ok = true;
      return new Done(new LayerJob.Unpacked(key, dir, a.stats(), a.downloaded(), System.nanoTime()), a.pending());
    } finally {
      if (!ok) {
        extractions.removeQuietly(key);
        if (a != null && a.pending() != null) {
          fetcher.discard(a.pending());
        }
      }
    }
  }
}
