package dev.lamina.images;

import static dev.lamina.oci.Limits.MAX_INDEX_DEPTH;

import dev.lamina.archive.ApplyOptions;
import dev.lamina.archive.ApplyStats;
import dev.lamina.archive.WhiteoutMode;
import dev.lamina.content.ReaderAt;
import dev.lamina.content.Writer;
import dev.lamina.diff.AppliedLayer;
import dev.lamina.diff.LayerBlob;
import dev.lamina.diff.StreamApplier;
import dev.lamina.digest.Digest;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.mount.Mount;
import dev.lamina.oci.Descriptor;
import dev.lamina.oci.ImageConfig;
import dev.lamina.oci.ImageRef;
import dev.lamina.oci.Index;
import dev.lamina.oci.Manifest;
import dev.lamina.oci.ManifestDocument;
import dev.lamina.oci.Manifests;
import dev.lamina.posix.Posix;
import dev.lamina.remotes.RegistryClient;
import dev.lamina.remotes.VerifyingInputStream;
import dev.lamina.snapshots.Kind;
import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.Usage;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pull pipeline: resolve, narrow an index to the node's platform, fetch manifest and config
 * into the content store, then download and unpack the layers whose chain ID is not committed yet.
 *
 * <p>With the overlay snapshotter every missing layer streams at once (bounded per pull and in
 * total): HTTP body -> tee into the content-store ingest -> decompress -> diff ID hash -> tar apply
 * into a snapshot prepared <em>without</em> parent (overlay whiteouts), so layers unpack in
 * parallel. They commit in chain order, each rebased onto the chain ID below it, after its implicit
 * directories were given the attributes the parent chain has ({@link ImplicitDirectories}) and
 * after one {@code syncfs} covering every layer of the batch being committed. While layers
 * unpack, {@link EarlyWriteback} flushes that filesystem in the background, so the disk works
 * alongside the CPUs and those syncfs calls find little left to write.
 *
 * <p>The copying snapshotter cannot rebase: a layer is applied (naive whiteouts) into a full copy
 * of its parent's tree, which exists only once the parent is committed. Its layers therefore
 * unpack one after another, each still streaming from the registry straight into the tree.
 *
 * <p>A layer's blob is committed to the content store only after its size and digest check out,
 * and its snapshot only after that: a digest or diff ID mismatch, a truncated body, a hostile tar
 * or a registry error removes the prepared snapshot, and aborts the ingest unless the failure was
 * the network's (UNAVAILABLE), in which case the bytes received stay for the next pull to resume
 * with a {@code Range} request.
 */
final class Puller implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(LocalImageManager.class);
  private static final int COPY_BUFFER = 256 * 1024;
  /** Read-ahead of a layer's download: 8 buffers of 256 KiB, recycled. */
  private static final int FETCH_CHUNK = 256 * 1024;
  private static final int FETCH_CHUNKS_AHEAD = 8;
  /** Shortest time between the starts of two early flushes while layers unpack ({@link EarlyWriteback}). */
  private static final long WRITEBACK_INTERVAL_MILLIS = 300;
  private static final SecureRandom RANDOM = new SecureRandom();
  /** On active snapshots the image manager prepares: extraction keys and lookup views. */
  static final String EXTRACT_LABEL = "lamina.dev/extract";

  /** What a pull found out, for the image record and the log. */
  record Result(Descriptor target, ImageInfo info, int reused, int unpacked, int joined, long downloaded) {}

  /** Writes the image record while the pull still holds its lease. */
  @FunctionalInterface
  interface Recorder {
    void record(Descriptor target, ImageInfo info) throws IOException;
  }

  private final ContentBlobs blobs;
  private final Snapshotter snapshotter;
  private final boolean overlay;
  private final ImageManagerOptions options;
  private final Leases leases;
  private final UsageCounters usage;
  private final StreamApplier applier;
  private final ApplyOptions applyOptions;
  private final ExecutorService executor;
  private final Semaphore global;
  /** Layer jobs in flight, by chain ID; the monitor also guards {@link LayerJob#users}. */
  private final Map<Digest, LayerJob> jobs = new HashMap<>();
  /** The latest start (System.nanoTime) of a syncfs that has finished: it covers every change before. */
  private final AtomicLong lastFlush = new AtomicLong(Long.MIN_VALUE);
  private final Posix posix = Posix.get();
  private final EarlyWriteback writeback;

  Puller(ContentBlobs blobs, Snapshotter snapshotter, boolean overlay, ImageManagerOptions options, Leases leases,
      UsageCounters usage) {
    this.blobs = blobs;
    this.snapshotter = snapshotter;
    this.overlay = overlay;
    this.options = options;
    this.leases = leases;
    this.usage = usage;
    this.applier = new StreamApplier(options.processors());
    this.applyOptions = ApplyOptions.defaults().withWhiteouts(overlay ? WhiteoutMode.OVERLAY : WhiteoutMode.NAIVE);
    AtomicInteger threads = new AtomicInteger();
    this.executor = Executors.newCachedThreadPool(r -> {
      Thread t = new Thread(r, "lamina-layer-" + threads.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    this.global = new Semaphore(options.layersInTotal(), true);
    this.writeback = new EarlyWriteback(posix::syncfs, WRITEBACK_INTERVAL_MILLIS, TimeUnit.MILLISECONDS,
        this::flushedFrom);
  }

  /** One pull in flight. */
  private static final class Context {
    final ImageRef ref;
    final RegistryClient client;
    final PullListener listener;
    final Semaphore perPull;
    final AtomicLong downloaded = new AtomicLong();
    final AtomicInteger unpacked = new AtomicInteger();

    Context(ImageRef ref, RegistryClient client, PullListener listener, int perPull) {
      this.ref = ref;
      this.client = client;
      this.listener = listener;
      this.perPull = new Semaphore(perPull, true);
    }
  }

  Result pull(ImageRef ref, RegistryClient client, PullListener listener, Recorder recorder) throws IOException {
    Context c = new Context(ref, client, listener, options.layersPerPull());
    try (Leases.Lease lease = leases.lease()) {
      Descriptor target = resolve(c, lease);
      Manifest manifest = narrow(c, target, lease);
      Descriptor configDescriptor = manifest.config();
      lease.protect(Leases.content(configDescriptor.digest()));
      byte[] configBytes = smallBlob(c, "config", configDescriptor, c.client.options().maxBlobBytes());
      ImageConfig config = ImageConfig.parse(configDescriptor.digest(), configBytes);
      if (config.rootfs().diffIds().size() != manifest.layers().size()) {
        throw LaminaException.invalidArgument("image " + ref + ": manifest " + manifest.descriptor().digest()
            + " has " + manifest.layers().size() + " layers but config " + configDescriptor.digest() + " has "
            + config.rootfs().diffIds().size() + " diff IDs");
      }
      ImageInfo info = ImageInfo.of(manifest, config);
      List<Digest> chain = info.chainIds();
      for (int i = 0; i < chain.size(); i++) {
        lease.protect(Leases.snapshot(chain.get(i).toString()));
        lease.protect(Leases.content(manifest.layers().get(i).digest()));
      }
      int prefix = committedPrefix(chain);
      listener.resolved(ref.toString(), manifest.descriptor().digest(), manifest.layers(), prefix);
      for (int i = 0; i < prefix; i++) {
        listener.layerSkipped(manifest.layers().get(i).digest(), manifest.layers().get(i).size());
        listener.layerDone(manifest.layers().get(i).digest(), true);
      }
      int[] counts = unpackLayers(c, info, prefix);
      recorder.record(target, info);
      return new Result(target, info, prefix, counts[0], counts[1], c.downloaded.get());
    }
  }

  // ---------------------------------------------------------------------------------------------
  // manifests and config

  private Descriptor resolve(Context c, Leases.Lease lease) throws IOException {
    Digest pinned = c.ref.digest();
    if (pinned != null) {
      // A digest names content that cannot change: a manifest already here needs no registry.
      lease.protect(Leases.content(pinned));
      Optional<byte[]> local = blobs.readIfPresent(pinned, c.client.options().maxManifestBytes());
      if (local.isPresent()) {
        return Manifests.parse(Descriptor.of("", pinned, local.get().length), local.get()).descriptor();
      }
    }
    Descriptor d = c.client.resolve(c.ref).descriptor();
    lease.protect(Leases.content(d.digest()));
    return d;
  }

  private Manifest narrow(Context c, Descriptor target, Leases.Lease lease) throws IOException {
    Descriptor current = target;
    for (int depth = 0; depth <= MAX_INDEX_DEPTH; depth++) {
      lease.protect(Leases.content(current.digest()));
      byte[] bytes = blobs.readIfPresent(current.digest(), c.client.options().maxManifestBytes()).orElse(null);
      if (bytes == null) {
        bytes = c.client.fetchManifest(c.ref, current);
        blobs.putSmall("manifest", current.digest(), bytes);
      } else {
        blobs.adopt(current.digest());
      }
      ManifestDocument doc = Manifests.parse(current, bytes);
      if (doc instanceof Manifest m) {
        return m;
      }
      current = ((Index) doc).require(options.platform().matcher(), c.ref.name());
    }
    throw LaminaException.invalidArgument("index " + target.digest() + " of " + c.ref + " nests more than "
        + MAX_INDEX_DEPTH + " deep");
  }

  private byte[] smallBlob(Context c, String kind, Descriptor d, int max) throws IOException {
    Optional<byte[]> local = blobs.readIfPresent(d.digest(), max);
    if (local.isPresent()) {
      blobs.adopt(d.digest());
      return local.get();
    }
    byte[] bytes = c.client.readBlob(c.ref, d);
    blobs.putSmall(kind, d.digest(), bytes);
    return bytes;
  }

  /** How many layers from the base up are committed already: the top committed one implies the rest. */
  private int committedPrefix(List<Digest> chain) throws IOException {
    for (int i = chain.size() - 1; i >= 0; i--) {
      if (isCommitted(chain.get(i).toString())) {
        return i + 1;
      }
    }
    return 0;
  }

  private boolean isCommitted(String name) throws IOException {
    try {
      return snapshotter.stat(name).kind() == Kind.COMMITTED;
    } catch (LaminaException e) {
      if (e.kind() == ErrorKind.NOT_FOUND) {
        return false;
      }
      throw e;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // layers

  /** Unpacks and commits layers {@code prefix..n-1}; returns {unpacked here, joined from other pulls}. */
  private int[] unpackLayers(Context c, ImageInfo info, int prefix) throws IOException {
    List<Descriptor> layers = info.manifest().layers();
    List<Digest> chain = info.chainIds();
    List<Digest> diffIds = info.config().rootfs().diffIds();
    int n = layers.size();
    List<LayerJob> mine = new ArrayList<>();
    List<LayerJob> toStart = new ArrayList<>();
    int joined = 0;
    boolean failed = true;
    try {
      for (int i = prefix; i < n; i++) {
        LayerJob job = new LayerJob(chain.get(i), i == 0 ? "" : chain.get(i - 1).toString(), layers.get(i),
            diffIds.get(i));
        LayerJob shared;
        synchronized (jobs) {
          shared = jobs.putIfAbsent(job.chainId, job);
          if (shared == null) {
            shared = job;
          }
          shared.users++;
        }
        mine.add(shared);
        if (shared != job) {
          joined++;
        } else if (overlay) {
          toStart.add(job);
        }
      }
      // Largest first: the longest unpacks start at once, the small ones fill in around them.
      toStart.sort(java.util.Comparator.comparingLong((LayerJob j) -> j.blob.size()).reversed());
      for (LayerJob job : toStart) {
        if (job.started.compareAndSet(false, true)) {
          executor.execute(() -> runJob(job, c));
        }
      }
      LowerDirs dirs = new LowerDirs(chain);
      int i = prefix;
      while (i < n) {
        LayerJob first = mine.get(i - prefix);
        if (!overlay && first.started.compareAndSet(false, true)) {
          // One after another, each on its committed parent; whichever pull gets here first runs it.
          runJob(first, c);
        }
        List<LayerJob> batch = new ArrayList<>();
        batch.add(first);
        dirs.unpacked(i, await(first).dir());
        if (overlay) {
          for (int j = i + 1; j < n; j++) {
            LayerJob next = mine.get(j - prefix);
            if (!next.unpacked.isDone() || next.unpacked.isCompletedExceptionally()) {
              break;
            }
            batch.add(next);
            dirs.unpacked(j, next.unpacked.getNow(null).dir());
          }
        }
        for (int k = 0; k < batch.size(); k++) {
          fix(c, batch.get(k), i + k, dirs);
        }
        flush(batch);
        for (int k = 0; k < batch.size(); k++) {
          commit(c, batch.get(k), i + k, dirs);
        }
        i += batch.size();
      }
      // The blobs commit after their layers were verified, alongside the snapshot commits.
      for (LayerJob job : mine) {
        if (job.started.get()) {
          awaitFinished(job);
        }
      }
      failed = false;
      return new int[] {c.unpacked.get(), joined};
    } finally {
      release(mine);
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

  /** Gives up this pull's hold on its jobs; the last holder of an uncommitted job cleans it up. */
  private void release(List<LayerJob> mine) {
    for (LayerJob job : mine) {
      LayerJob.Unpacked orphan = null;
      synchronized (jobs) {
        if (--job.users > 0) {
          continue;
        }
        jobs.remove(job.chainId, job);
        // Nobody else holds the job, so nobody is committing it now.
        if (!job.committed) {
          job.abandoned = true;
          if (job.unpacked.isDone() && !job.unpacked.isCompletedExceptionally()) {
            orphan = job.unpacked.getNow(null);
          }
        }
      }
      if (orphan != null && orphan.key() != null) {
        removeQuietly(orphan.key());
      }
    }
  }

  private void runJob(LayerJob job, Context c) {
    Writer pending = null;
    try {
      boolean perPull = false;
      boolean total = false;
      try {
        if (overlay) {
          c.perPull.acquire();
          perPull = true;
        }
        global.acquire();
        total = true;
        if (job.abandoned) {
          throw abandoned();
        }
        LayerJob.Unpacked u;
        if (isCommitted(job.chainId.toString())) {
          u = new LayerJob.Unpacked(null, null, null, 0, System.nanoTime()); // committed meanwhile
        } else {
          Done d = unpack(job, c);
          u = d.unpacked();
          pending = d.pendingBlob();
          c.unpacked.incrementAndGet();
        }
        boolean orphan;
        synchronized (jobs) {
          orphan = job.abandoned;
          if (!orphan) {
            job.unpacked.complete(u);
          }
        }
        if (orphan) {
          if (u.key() != null) {
            removeQuietly(u.key());
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
        keepBlob(job, c, w);
      }
    } catch (Throwable t) {
      job.unpacked.completeExceptionally(layerError(c, job, t));
    } finally {
      if (pending != null) {
        discard(pending);
      }
      job.finished.complete(null);
    }
  }

  /** Commits a verified layer blob to the content store; failing that, the layer just has no blob kept. */
  private void keepBlob(LayerJob job, Context c, Writer w) {
    boolean done = false;
    try {
      commitBlob(w, job, c);
      done = true;
    } catch (IOException | RuntimeException e) {
      LOG.warn("pull {}: layer {} is unpacked, but its blob could not be kept: {}", c.ref, job.blob.digest(),
          e.getMessage());
    } finally {
      if (done) {
        try {
          w.close();
        } catch (IOException ignored) {
          // committed: nothing left to release that matters
        }
      } else {
        discard(w);
      }
    }
  }

  private void discard(Writer w) {
    String ref = w.ref();
    try {
      w.close();
    } catch (IOException ignored) {
      // aborted next
    }
    blobs.abortQuietly(ref);
  }

  /** An unpacked layer, and the verified ingest of its blob still to commit (or null). */
  private record Done(LayerJob.Unpacked unpacked, Writer pendingBlob) {}

  private static LaminaException abandoned() {
    return new LaminaException(ErrorKind.UNAVAILABLE, "abandoned: no pull needs the layer any more");
  }

  private static LaminaException layerError(Context c, LayerJob job, Throwable t) {
    ErrorKind kind = t instanceof InterruptedException ? ErrorKind.UNAVAILABLE : LaminaException.kindOf(t);
    if (t instanceof InterruptedException) {
      Thread.currentThread().interrupt();
    }
    String why = t.getMessage() == null ? t.toString() : t.getMessage();
    return new LaminaException(kind, "pull " + c.ref + ": layer " + job.blob.digest() + ": " + why, t);
  }

  /** Prepares the snapshot, streams the blob into it and verifies both; nothing stays on failure. */
  private Done unpack(LayerJob job, Context c) throws IOException {
    String key = "extract-" + random() + "-" + job.chainId;
    List<Mount> mounts = snapshotter.prepare(key, overlay ? "" : job.parent,
        Map.of(ContentBlobs.OWNER_LABEL, ContentBlobs.OWNER, EXTRACT_LABEL, job.chainId.toString()));
    boolean ok = false;
    long start = System.nanoTime();
    Applied a = null;
    try {
      Path dir = SnapshotDirs.writable(key, mounts);
      writeback.begin(dir);
      try {
        a = applyBlob(job, c, dir);
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
        removeQuietly(key);
        if (a != null && a.pending() != null) {
          discard(a.pending());
        }
      }
    }
  }

  /** @param pending the ingest holding the verified blob, still to commit; or null */
  private record Applied(ApplyStats stats, long downloaded, Writer pending) {}

  private Applied applyBlob(LayerJob job, Context c, Path dir) throws IOException {
    Descriptor blob = job.blob;
    if (blobs.info(blob.digest()).isPresent()) {
      return fromStore(job, c, dir, 0);
    }
    if (options.dropCompressedLayers()) {
      return verifying(job, c, dir);
    }
    String ref = "layer-" + blob.digest();
    Writer w;
    try {
      w = blobs.store().writer(ref, blob.size(), blob.digest());
    } catch (LaminaException e) {
      if (e.kind() == ErrorKind.ALREADY_EXISTS) {
        return fromStore(job, c, dir, 0);
      }
      if (e.kind() == ErrorKind.UNAVAILABLE) {
        // Another unpack of this blob (under another chain) holds the ingest: hash in-stream instead.
        return verifying(job, c, dir);
      }
      throw e;
    }
    boolean done = false;
    boolean keep = false;
    boolean handedOver = false;
    try {
      if (w.offset() > 0) {
        // An earlier pull got this far: fetch the rest with a Range request, verify, then apply
        // from the store (the ingest's first bytes cannot be read back while it is open).
        long resumed = resume(w, job, c);
        done = true;
        return fromStore(job, c, dir, resumed);
      }
      InputStream body = c.client.fetchBlob(c.ref, blob, 0);
      TeeInputStream tee = new TeeInputStream(body, w, progress(c, blob), () -> job.abandoned);
      // The download, its hash and the ingest writes run on a thread of their own, ahead of the
      // decompression: the HTTP client hands over one small buffer at a time.
      FetchAhead ahead = new FetchAhead(tee, FETCH_CHUNK, FETCH_CHUNKS_AHEAD, "layer-fetch");
      AppliedLayer applied;
      try {
        applied = applier.apply(new LayerBlob(blob.mediaType(), new KeepOpen(ahead), job.diffId, Map.of()), dir,
            applyOptions);
        TeeInputStream.drain(ahead);
        tee.drain();
      } catch (IOException e) {
        throw blame(e, ahead, tee, w, c, blob);
      } finally {
        ahead.close();
        tee.detach(); // no thread writes into the ingest after this
      }
      Digest got = w.digest();
      if (w.offset() != blob.size() || !got.equals(blob.digest())) {
        throw LaminaException.dataLoss("blob " + blob.digest() + " of " + c.ref.name()
            + ": digest mismatch: the registry sent " + w.offset() + " bytes whose digest is " + got);
      }
      handedOver = true;
      return new Applied(applied.stats(), tee.count(), w);
    } catch (IOException | RuntimeException e) {
      // What the network delivered before it failed is good: keep it for the next pull to resume.
      // A layer no pull wants any more (a sibling failed) keeps nothing: a failed pull leaves no ingest.
      keep = !done && !job.abandoned && LaminaException.kindOf(e) == ErrorKind.UNAVAILABLE && w.offset() > 0;
      throw e;
    } finally {
      if (!handedOver) {
        try {
          w.close();
        } finally {
          if (!done && !keep) {
            blobs.abortQuietly(ref);
          }
        }
      }
    }
  }

  /** Downloads the rest of a partial ingest and commits it; returns the bytes downloaded. */
  private long resume(Writer w, LayerJob job, Context c) throws IOException {
    Descriptor blob = job.blob;
    long offset = w.offset();
    LOG.info("pull {}: resuming layer {} at byte {} of {}", c.ref, blob.digest(), offset, blob.size());
    LongConsumer progress = progress(c, blob);
    long got = 0;
    try (InputStream body = c.client.fetchBlob(c.ref, blob, offset)) {
      byte[] buf = new byte[COPY_BUFFER];
      int n;
      while ((n = body.read(buf)) >= 0) {
        if (job.abandoned) {
          throw abandoned();
        }
        w.write(buf, 0, n);
        got += n;
        progress.accept(offset + got);
      }
    }
    commitBlob(w, job, c);
    return got;
  }

  private void commitBlob(Writer w, LayerJob job, Context c) throws IOException {
    Descriptor blob = job.blob;
    try {
      w.commit(blob.size(), blob.digest(), ContentBlobs.layerLabels(job.diffId));
      blobs.published(blob.digest(), blob.size());
    } catch (LaminaException e) {
      if (e.kind() == ErrorKind.ALREADY_EXISTS) {
        blobs.adopt(blob.digest()); // verified: another pull committed the same bytes first
        return;
      }
      if (e.kind() == ErrorKind.FAILED_PRECONDITION) {
        throw new LaminaException(ErrorKind.DATA_LOSS, "blob " + blob.digest() + " of " + c.ref.name()
            + " failed verification: " + e.getMessage(), e);
      }
      throw e;
    }
  }

  private Applied fromStore(LayerJob job, Context c, Path dir, long downloaded) throws IOException {
    Descriptor blob = job.blob;
    try (ReaderAt r = blobs.store().readerAt(blob.digest())) {
      if (r.size() != blob.size()) {
        throw LaminaException.dataLoss("blob " + blob.digest() + " in the content store has " + r.size()
            + " bytes, the manifest says " + blob.size());
      }
      TeeInputStream in = new TeeInputStream(r.stream(), null, progress(c, blob), () -> job.abandoned);
      try {
        AppliedLayer applied =
            applier.apply(new LayerBlob(blob.mediaType(), in, job.diffId, Map.of()), dir, applyOptions);
        in.drain();
        return new Applied(applied.stats(), downloaded, null);
      } finally {
        in.detach();
      }
    }
  }

  /** Streams the blob without keeping it: hashed on the way, checked at its end. */
  private Applied verifying(LayerJob job, Context c, Path dir) throws IOException {
    Descriptor blob = job.blob;
    InputStream body = new VerifyingInputStream(c.client.fetchBlob(c.ref, blob, 0), blob);
    TeeInputStream in = new TeeInputStream(body, null, progress(c, blob), () -> job.abandoned);
    try {
      AppliedLayer applied =
          applier.apply(new LayerBlob(blob.mediaType(), in, job.diffId, Map.of()), dir, applyOptions);
      in.drain(); // the digest is checked at the end of the body
      return new Applied(applied.stats(), in.count(), null);
    } catch (IOException e) {
      throw blame(e, in, in, null, c, blob);
    } finally {
      in.detach();
    }
  }

  /**
   * An unpack failed on bad input (a corrupt stream, a tar entry refused, a diff ID mismatch): when
   * the blob itself is not what its digest says, that is the error to report. Reads the rest of
   * the body (the digest covers all of it) and checks it; a network failure is reported as it is.
   *
   * @param w the ingest the body was copied into, or null when {@code in} verifies on its own
   */
  private static IOException blame(IOException failure, InputStream rest, TeeInputStream in, Writer w, Context c,
      Descriptor blob) {
    ErrorKind kind = LaminaException.kindOf(failure);
    if (kind != ErrorKind.INVALID_ARGUMENT && kind != ErrorKind.DATA_LOSS) {
      return failure;
    }
    try {
      TeeInputStream.drain(rest);
      in.drain();
      if (w != null && w.offset() == blob.size() && !w.digest().equals(blob.digest())) {
        LaminaException e = LaminaException.dataLoss("blob " + blob.digest() + " of " + c.ref.name()
            + ": digest mismatch: the registry sent content whose digest is " + w.digest()
            + " (unpacking it failed too: " + failure.getMessage() + ")");
        e.addSuppressed(failure);
        return e;
      }
    } catch (IOException e) {
      if (LaminaException.kindOf(e) == ErrorKind.DATA_LOSS && e != failure) {
        LaminaException d = new LaminaException(ErrorKind.DATA_LOSS, e.getMessage() + " (unpacking it failed too: "
            + failure.getMessage() + ")", e);
        d.addSuppressed(failure);
        return d;
      }
      failure.addSuppressed(e);
    }
    return failure;
  }

  private static LongConsumer progress(Context c, Descriptor blob) {
    return done -> c.listener.layerProgress(blob.digest(), done, blob.size());
  }

  // ---------------------------------------------------------------------------------------------
  // before and at commit

  private void fix(Context c, LayerJob job, int index, LowerDirs dirs) throws IOException {
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
      if (overlay && !implicit.isEmpty()) {
        try {
          ImplicitDirectories.Result r = new ImplicitDirectories(u.dir(), dirs.below(index)).fix(implicit);
          LOG.debug("pull {}: layer {}: {} implicit directories took their parents' attributes, {} phantom ones removed",
              c.ref, job.blob.digest(), r.fixed(), r.removed());
        } catch (IOException e) {
          throw layerError(c, job, e);
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

  /** A syncfs that started at {@code start} has finished. */
  private void flushedFrom(long start) {
    lastFlush.accumulateAndGet(start, Math::max);
  }

  private void commit(Context c, LayerJob job, int index, LowerDirs dirs) throws IOException {
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
            throw layerError(c, job, e);
          }
          // committed meanwhile by a pull that unpacked the same layers on its own
          removeQuietly(u.key());
          job.committedDir = null;
        }
        job.committed = true;
      }
      dirs.committed(index, job.committedDir);
    }
    c.listener.layerDone(job.blob.digest(), false);
  }

  /**
   * The fs dirs of the layers of one pull, for looking up what lies below a layer. Layers this
   * pull unpacked are known; for the others (committed before), one read-only view of the
   * topmost unknown one is made, its mounts read, and removed again.
   */
  private final class LowerDirs {
    private final List<Digest> chain;
    private final Path[] known;
    private final Map<Integer, List<Path>> viewed = new HashMap<>();

    LowerDirs(List<Digest> chain) {
      this.chain = chain;
      this.known = new Path[chain.size()];
    }

    void unpacked(int index, Path dir) {
      known[index] = dir;
    }

    void committed(int index, Path dir) {
      known[index] = dir;
    }

    /** The dirs of the layers below {@code index}, newest first. */
    List<Path> below(int index) throws IOException {
      List<Path> out = new ArrayList<>();
      for (int k = index - 1; k >= 0; k--) {
        if (known[k] != null) {
          out.add(known[k]);
        } else {
          out.addAll(view(k));
          break;
        }
      }
      return out;
    }

    private List<Path> view(int k) throws IOException {
      List<Path> v = viewed.get(k);
      if (v == null) {
        String key = "lookup-" + random() + "-" + chain.get(k);
        List<Mount> mounts = snapshotter.view(key, chain.get(k).toString(),
            Map.of(ContentBlobs.OWNER_LABEL, ContentBlobs.OWNER, EXTRACT_LABEL, chain.get(k).toString()));
        try {
          v = SnapshotDirs.layers(key, mounts);
        } finally {
          removeQuietly(key);
        }
        viewed.put(k, v);
      }
      return v;
    }
  }

  // ---------------------------------------------------------------------------------------------

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

  void removeQuietly(String key) {
    try {
      snapshotter.remove(key);
    } catch (IOException e) {
      if (!(e instanceof LaminaException le && le.kind() == ErrorKind.NOT_FOUND)) {
        LOG.warn("could not remove snapshot {}: {}", key, e.getMessage());
      }
    }
  }

  /** Removes active snapshots a process that died while pulling left behind. */
  void removeStaleExtractions() throws IOException {
    List<String> stale = new ArrayList<>();
    snapshotter.walk(i -> {
      if (i.kind() != Kind.COMMITTED && i.labels().containsKey(EXTRACT_LABEL)
          && ContentBlobs.OWNER.equals(i.labels().get(ContentBlobs.OWNER_LABEL))) {
        stale.add(i.name());
      }
    }, List.of());
    for (String key : stale) {
      LOG.info("removing snapshot {} left by an interrupted pull", key);
      removeQuietly(key);
    }
  }

  private static String random() {
    byte[] b = new byte[8];
    RANDOM.nextBytes(b);
    return HexFormat.of().formatHex(b);
  }

  @Override
  public void close() {
    executor.shutdownNow();
    writeback.close();
  }
}
