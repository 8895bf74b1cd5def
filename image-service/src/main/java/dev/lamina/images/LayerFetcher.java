package dev.lamina.images;

import dev.lamina.archive.ApplyOptions;
import dev.lamina.archive.ApplyStats;
import dev.lamina.content.ReaderAt;
import dev.lamina.content.Writer;
import dev.lamina.diff.AppliedLayer;
import dev.lamina.diff.LayerBlob;
import dev.lamina.diff.StreamApplier;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.io.ReadAheadInputStream;
import dev.lamina.oci.Descriptor;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.LongConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The fetch step of a pull: one layer's blob, from wherever it is, applied into a directory and
 * verified (size, digest, diff ID). A blob is committed to the content store only after it checks
 * out; bytes the network delivered before it failed stay in the ingest for the next pull to resume
 * with a {@code Range} request.
 */
final class LayerFetcher {
  private static final Logger LOG = LoggerFactory.getLogger(LocalImageManager.class);
  private static final int COPY_BUFFER = 256 * 1024;
  /** Read-ahead of a layer's download: 6 buffers of 256 KiB ahead (8 in all), recycled. */
  private static final int FETCH_CHUNK = 256 * 1024;
  private static final int FETCH_CHUNKS_AHEAD = 6;

  private final ContentBlobs blobs;
  private final StreamApplier applier;
  private final ApplyOptions applyOptions;
  private final boolean dropCompressedLayers;

  LayerFetcher(ContentBlobs blobs, StreamApplier applier, ApplyOptions applyOptions, boolean dropCompressedLayers) {
    this.blobs = blobs;
    this.applier = applier;
    this.applyOptions = applyOptions;
    this.dropCompressedLayers = dropCompressedLayers;
  }

  /** Commits a verified layer blob to the content store; failing that, the layer just has no blob kept. */
  void keepBlob(LayerJob job, PullContext c, Writer w) {
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

  void discard(Writer w) {
    String ref = w.ref();
    try {
      w.close();
    } catch (IOException ignored) {
      // aborted next
    }
    blobs.abortQuietly(ref);
  }

  /** @param pending the ingest holding the verified blob, still to commit; or null */
  record Applied(ApplyStats stats, long downloaded, Writer pending) {}

  /**
   * Streams the layer's blob into {@code dir} and verifies it: from the content store when it is
   * there, else from the registry, teed into an ingest (resumed where an earlier pull stopped) or,
   * with compressed layers dropped or the ingest held by another unpack, hashed on the way.
   */
  Applied applyBlob(LayerJob job, PullContext c, Path dir) throws IOException {
    Descriptor blob = job.blob;
    if (blobs.info(blob.digest()).isPresent()) {
      return fromStore(job, c, dir, 0);
    }
    if (dropCompressedLayers) {
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
      InputStream body = c.client.fetchBlob(c.ref, blob); // verifies size and digest at its end
      TeeInputStream tee = new TeeInputStream(body, w, c.progress(blob), () -> job.abandoned);
      // The download, its hash and the ingest writes run on a thread of their own, ahead of the
      // decompression: the HTTP client hands over one small buffer at a time.
      ReadAheadInputStream ahead = new ReadAheadInputStream(tee, FETCH_CHUNK, FETCH_CHUNKS_AHEAD, "layer-fetch");
      AppliedLayer applied;
      try {
        applied = applier.apply(new LayerBlob(blob.mediaType(), new KeepOpen(ahead), job.diffId, Map.of()), dir,
            applyOptions);
        TeeInputStream.drain(ahead);
        tee.drain();
      } catch (IOException e) {
        throw blame(e, ahead, tee, w, blob);
      } finally {
        ahead.closeAndAwait();
        tee.detach(); // no thread writes into the ingest after this
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
  private long resume(Writer w, LayerJob job, PullContext c) throws IOException {
    Descriptor blob = job.blob;
    long offset = w.offset();
    LOG.info("pull {}: resuming layer {} at byte {} of {}", c.ref, blob.digest(), offset, blob.size());
    LongConsumer progress = c.progress(blob);
    long got = 0;
    try (InputStream body = c.client.fetchBlob(c.ref, blob, offset, w.digestState())) {
      byte[] buf = new byte[COPY_BUFFER];
      int n;
      while ((n = body.read(buf)) >= 0) {
        if (job.abandoned) {
          throw LayerUnpacker.abandoned();
        }
        w.write(buf, 0, n);
        got += n;
        progress.accept(offset + got);
      }
    }
    commitBlob(w, job, c);
    return got;
  }

  private void commitBlob(Writer w, LayerJob job, PullContext c) throws IOException {
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

  private Applied fromStore(LayerJob job, PullContext c, Path dir, long downloaded) throws IOException {
    Descriptor blob = job.blob;
    try (ReaderAt r = blobs.store().readerAt(blob.digest())) {
      if (r.size() != blob.size()) {
        throw LaminaException.dataLoss("blob " + blob.digest() + " in the content store has " + r.size()
            + " bytes, the manifest says " + blob.size());
      }
      TeeInputStream in = new TeeInputStream(r.stream(), null, c.progress(blob), () -> job.abandoned);
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

  /** Streams the blob without keeping it: the registry client's stream checks it at its end. */
  private Applied verifying(LayerJob job, PullContext c, Path dir) throws IOException {
    Descriptor blob = job.blob;
    InputStream body = c.client.fetchBlob(c.ref, blob);
    TeeInputStream in = new TeeInputStream(body, null, c.progress(blob), () -> job.abandoned);
    try {
      AppliedLayer applied =
          applier.apply(new LayerBlob(blob.mediaType(), in, job.diffId, Map.of()), dir, applyOptions);
      in.drain(); // the digest is checked at the end of the body
      return new Applied(applied.stats(), in.count(), null);
    } catch (IOException e) {
      throw blame(e, in, in, null, blob);
    } finally {
      in.detach();
    }
  }

  /**
   * An unpack failed on bad input (a corrupt stream, a tar entry refused, a diff ID mismatch): when
   * the blob itself is not what its digest says, that is the error to report. Reads the rest of
   * the body, whose end verifies the whole; a network failure is reported as it is.
   *
   * @param w the ingest the body was copied into, or null
   */
  private static IOException blame(IOException failure, InputStream rest, TeeInputStream in, Writer w,
      Descriptor blob) {
    ErrorKind kind = LaminaException.kindOf(failure);
    if (kind != ErrorKind.INVALID_ARGUMENT && kind != ErrorKind.DATA_LOSS) {
      return failure;
    }
    try {
      TeeInputStream.drain(rest);
      in.drain();
      // A stage of the failed unpack (a decompressing program's feeder) may still have read the
      // body's end, and its verdict with it: the ingest, which holds every byte, still knows.
      if (w != null && w.offset() == blob.size() && !w.digest().equals(blob.digest())) {
        LaminaException e = LaminaException.dataLoss("blob " + blob.digest() + ": digest mismatch: the content is "
            + w.digest() + " (unpacking it failed too: " + failure.getMessage() + ")");
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

}
