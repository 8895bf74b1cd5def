package dev.lamina.diff;

import dev.lamina.archive.ApplyOptions;
import dev.lamina.archive.ApplyStats;
import dev.lamina.archive.TarApplier;
import dev.lamina.digest.DigestingInputStream;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.io.ReadAheadInputStream;
import dev.lamina.processor.StreamProcessor;
import dev.lamina.processor.StreamProcessors;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Applies a layer by streaming it: blob -> stream processors (decompression) -> diff ID hash ->
 * tar apply. Decompression and hashing run a few megabytes ahead on their own thread, so they
 * overlap with file creation.
 */
public final class StreamApplier implements Applier {
  private static final int CHUNK = 256 * 1024;
  private static final int CHUNKS_AHEAD = 16;

  private final StreamProcessors processors;

  public StreamApplier(StreamProcessors processors) {
    this.processors = processors;
  }

  @Override
  public AppliedLayer apply(LayerBlob layer, Path target, ApplyOptions options) throws IOException {
    long start = System.nanoTime();
    CountingInputStream compressed = new CountingInputStream(layer.stream());
    StreamProcessor chain = processors.open(layer.mediaType(), compressed, layer.payloads());
    ApplyStats stats;
    DigestingInputStream tar;
    EndWatchingInputStream plain = new EndWatchingInputStream(chain.stream());
    try {
      tar = new DigestingInputStream(plain);
      try (ReadAheadInputStream ahead = new ReadAheadInputStream(tar, CHUNK, CHUNKS_AHEAD, "layer-decompress")) {
        stats = new TarApplier(options).apply(ahead, target);
        // Bytes after the end-of-archive marker are part of the diff ID too.
        ahead.transferTo(java.io.OutputStream.nullOutputStream());
      }
    } catch (IOException | RuntimeException e) {
      try {
        chain.close();
      } catch (IOException stageError) {
        if (plain.ended) {
          // A stage ended its output early and failed (a program that found the data corrupt, or
          // whose input broke off): its error is the cause, the applier's (a truncated entry) only
          // the consequence. A stage cut off before its end fails because the applier stopped
          // reading: not a cause.
          stageError.addSuppressed(e);
          throw stageError;
        }
        e.addSuppressed(stageError);
      }
      throw e;
    }
    chain.close();
    var diffId = tar.digest();
    if (layer.expectedDiffId() != null && !layer.expectedDiffId().equals(diffId)) {
      throw LaminaException.dataLoss("layer diff ID mismatch: expected " + layer.expectedDiffId()
          + ", got " + diffId + " (" + tar.count() + " uncompressed bytes)");
    }
    return new AppliedLayer(diffId, tar.count(), compressed.count, stats,
        Duration.ofNanos(System.nanoTime() - start));
  }

  /**
   * Notes whether its stream ended, at its end or with an error: a program's output can also
   * break off with "Stream closed" when the JDK collects the exited process while it is read.
   */
  private static final class EndWatchingInputStream extends FilterInputStream {
    volatile boolean ended;

    EndWatchingInputStream(InputStream in) {
      super(in);
    }

    @Override
    public int read() throws IOException {
      try {
        int b = in.read();
        ended |= b < 0;
        return b;
      } catch (IOException e) {
        ended = true;
        throw e;
      }
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      try {
        int n = in.read(b, off, len);
        ended |= n < 0;
        return n;
      } catch (IOException e) {
        ended = true;
        throw e;
      }
    }
  }

  private static final class CountingInputStream extends FilterInputStream {
    private long count;

    CountingInputStream(InputStream in) {
      super(in);
    }

    @Override
    public int read() throws IOException {
      int b = in.read();
      if (b >= 0) {
        count++;
      }
      return b;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      int n = in.read(b, off, len);
      if (n > 0) {
        count += n;
      }
      return n;
    }
  }
}
