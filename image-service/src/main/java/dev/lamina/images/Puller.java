package dev.lamina.images;

import dev.lamina.diff.StreamApplier;
import dev.lamina.digest.Digest;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.oci.Descriptor;
import dev.lamina.oci.ImageRef;
import dev.lamina.posix.Posix;
import dev.lamina.remotes.RegistryClient;
import dev.lamina.snapshots.Snapshotter;
import java.io.Closeable;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pull pipeline, one class per step: resolve and plan ({@link ImageResolver}: the reference,
 * narrowed to this platform, its manifest and config in the content store, the layers already
 * committed), fetch and unpack each missing layer ({@link LayerUnpacker} over {@link
 * LayerFetcher}: HTTP body -> tee into the content-store ingest -> decompress -> diff ID hash ->
 * tar apply), commit in chain order ({@link LayerCommitter}), and record the image.
 *
 * <p>How layers unpack is the {@link UnpackStrategy} the snapshotter's capabilities choose: side
 * by side when it rebases (overlay), else one after another, each on its committed parent. Pulls
 * that need a layer at the same time share its job ({@link LayerJobs}). While layers unpack,
 * {@link EarlyWriteback} flushes their filesystem in the background, so the disk works alongside
 * the CPUs and the commit's syncfs finds little left to write.
 *
 * <p>A layer's blob is committed to the content store only after its size and digest check out,
 * and its snapshot only after that: a digest or diff ID mismatch, a truncated body, a hostile tar
 * or a registry error removes the prepared snapshot, and aborts the ingest unless the failure was
 * the network's (UNAVAILABLE), in which case the bytes received stay for the next pull to resume
 * with a {@code Range} request.
 */
final class Puller implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(LocalImageManager.class);
  /** Shortest time between the starts of two early flushes while layers unpack ({@link EarlyWriteback}). */
  private static final long WRITEBACK_INTERVAL_MILLIS = 300;

  /** What a pull found out, for the image record and the log. */
  record Result(Descriptor target, ImageInfo info, int reused, int unpacked, int joined, long downloaded) {}

  /** Writes the image record while the pull still holds its lease. */
  @FunctionalInterface
  interface Recorder {
    void record(Descriptor target, ImageInfo info) throws IOException;
  }

  private final ImageManagerOptions options;
  private final Leases leases;
  private final UnpackStrategy strategy;
  private final Extractions extractions;
  private final ImageResolver resolver;
  private final LayerJobs jobs;
  private final LayerUnpacker unpacker;
  private final LayerCommitter committer;
  private final Snapshotter snapshotter;
  private final ExecutorService executor;
  private final EarlyWriteback writeback;

  Puller(ContentBlobs blobs, Snapshotter snapshotter, ImageManagerOptions options, Leases leases, UsageCounters usage) {
    this.options = options;
    this.leases = leases;
    this.snapshotter = snapshotter;
    this.strategy = UnpackStrategy.of(snapshotter);
    this.extractions = new Extractions(snapshotter);
    this.resolver = new ImageResolver(blobs, extractions, options.platform());
    this.jobs = new LayerJobs(extractions);
    this.committer = new LayerCommitter(snapshotter, strategy, extractions, usage);
    this.writeback = new EarlyWriteback(Posix.get()::syncfs, WRITEBACK_INTERVAL_MILLIS, TimeUnit.MILLISECONDS,
        committer::flushedFrom);
    LayerFetcher fetcher = new LayerFetcher(blobs, new StreamApplier(options.processors()), strategy.applyOptions(),
        options.dropCompressedLayers());
    this.unpacker = new LayerUnpacker(snapshotter, strategy, fetcher, jobs, extractions,
        new Semaphore(options.layersInTotal(), true), writeback);
    AtomicInteger threads = new AtomicInteger();
    this.executor = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "lamina-layer-" + threads.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
  }

  Result pull(ImageRef ref, RegistryClient client, PullListener listener, Recorder recorder) throws IOException {
    PullContext c = new PullContext(ref, client, listener, options.layersPerPull());
    try (Leases.Lease lease = leases.lease()) {
      PullPlan plan = resolver.plan(c, lease);
      List<Descriptor> layers = plan.layers();
      listener.resolved(ref.toString(), plan.info().manifest().descriptor().digest(), layers, plan.committed());
      for (int i = 0; i < plan.committed(); i++) {
        listener.layerSkipped(layers.get(i).digest(), layers.get(i).size());
        listener.layerDone(layers.get(i).digest(), true);
      }
      int joined = unpackLayers(c, plan);
      recorder.record(plan.target(), plan.info());
      return new Result(plan.target(), plan.info(), plan.committed(), c.unpacked.get(), joined, c.downloaded.get());
    }
  }

  /** Unpacks and commits the layers the plan found missing; returns how many were joined from other pulls. */
  private int unpackLayers(PullContext c, PullPlan plan) throws IOException {
    List<Descriptor> layers = plan.layers();
    List<Digest> chain = plan.chainIds();
    List<Digest> diffIds = plan.diffIds();
    int prefix = plan.committed();
    int n = layers.size();
    List<LayerJob> mine = new ArrayList<>();
    List<LayerJob> toStart = new ArrayList<>();
    int joined = 0;
    boolean failed = true;
    try {
      for (int i = prefix; i < n; i++) {
        LayerJob job = new LayerJob(chain.get(i), i == 0 ? "" : chain.get(i - 1).toString(), layers.get(i),
            diffIds.get(i));
        LayerJob shared = jobs.hold(job);
        mine.add(shared);
        if (shared != job) {
          joined++;
        } else if (strategy.sideBySide()) {
          toStart.add(job);
        }
      }
      // Largest first: the longest unpacks start at once, the small ones fill in around them.
      toStart.sort(Comparator.comparingLong((LayerJob j) -> j.blob.size()).reversed());
      for (LayerJob job : toStart) {
        if (job.started.compareAndSet(false, true)) {
          executor.execute(() -> unpacker.run(job, c));
        }
      }
      LowerDirs dirs = new LowerDirs(snapshotter, extractions, chain);
      int i = prefix;
      while (i < n) {
        LayerJob first = mine.get(i - prefix);
        if (!strategy.sideBySide() && first.started.compareAndSet(false, true)) {
          // One after another, each on its committed parent; whichever pull gets here first runs it.
          unpacker.run(first, c);
        }
        List<LayerJob> batch = new ArrayList<>();
        batch.add(first);
        dirs.known(i, await(first).dir());
        if (strategy.sideBySide()) {
          // with it, every layer above that has unpacked already
          for (int j = i + 1; j < n; j++) {
            LayerJob next = mine.get(j - prefix);
            if (!next.unpacked.isDone() || next.unpacked.isCompletedExceptionally()) {
              break;
            }
            batch.add(next);
            dirs.known(j, next.unpacked.getNow(null).dir());
          }
        }
        committer.commit(c, batch, i, dirs);
        i += batch.size();
      }
      // The blobs commit after their layers were verified, alongside the snapshot commits.
      for (LayerJob job : mine) {
        if (job.started.get()) {
          awaitFinished(job);
        }
      }
      failed = false;
      return joined;
    } finally {
      jobs.release(mine);
      if (failed) {
        // Before reporting, every job this pull started ends (as on success): unpacks nobody wants
        // any more remove their snapshots, and verified blobs finish their commit or abort, so no
        // ingest is still in flight when the caller looks.
        for (LayerJob job : mine) {
          if (job.started.get()) {
            awaitQuietly(job);
          }
        }
      }
    }
  }

  private static LayerJob.Unpacked await(LayerJob job) throws IOException {
    try {
      return job.unpacked.get();
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof LaminaException le) {
        throw new LaminaException(le.kind(), le.getMessage(), le);
      }
      throw new LaminaException(LaminaException.kindOf(cause), String.valueOf(cause.getMessage()), cause);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted waiting for " + job);
    }
  }

  private static void awaitFinished(LayerJob job) throws IOException {
    try {
      job.finished.get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted waiting for " + job);
    } catch (ExecutionException e) {
      // finished never fails
    }
  }

  private static void awaitQuietly(LayerJob job) {
    try {
      job.finished.get(5, TimeUnit.MINUTES);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (ExecutionException | TimeoutException e) {
      LOG.warn("{} did not stop: {}", job, e.toString());
    }
  }

  /** Removes active snapshots a process that died while pulling left behind. */
  void removeStaleExtractions() throws IOException {
    extractions.removeStale();
  }

  @Override
  public void close() {
    executor.shutdownNow();
    writeback.close();
  }
}
