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
    boolean closed = false;
    try {
      tar = new DigestingInputStream(chain.stream());
      try (ReadAheadInputStream ahead = new ReadAheadInputStream(tar, CHUNK, CHUNKS_AHEAD, "layer-decompress")) {
        stats = new TarApplier(options).apply(ahead, target);
        // Bytes after the end-of-archive marker are part of the diff ID too.
        ahead.transferTo(java.io.OutputStream.nullOutputStream());
      }
      closed = true;
      chain.close();
    } finally {
      if (!closed) {
        try {
          chain.close();
        } catch (IOException suppressed) {
          // the apply error is the one that matters
        }
      }
    }
    var diffId = tar.digest();
    if (layer.expectedDiffId() != null && !layer.expectedDiffId().equals(diffId)) {
      throw LaminaException.dataLoss("layer diff ID mismatch: expected " + layer.expectedDiffId()
          + ", got " + diffId + " (" + tar.count() + " uncompressed bytes)");
    }
    return new AppliedLayer(diffId, tar.count(), compressed.count, stats,
        Duration.ofNanos(System.nanoTime() - start));
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
