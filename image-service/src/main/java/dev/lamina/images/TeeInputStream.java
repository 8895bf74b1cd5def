package dev.lamina.images;

import dev.lamina.content.Writer;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.function.BooleanSupplier;
import java.util.function.LongConsumer;

/**
 * A blob body on its way to the applier, copied into a content-store ingest as it is read (the
 * writer hashes it, so the digest is checked at commit without a second pass).
 *
 * <p>The applier reads it from its read-ahead thread and closes it when the tar ends; closing
 * leaves the body open so that {@link #drain} can read what follows the compressed stream (the
 * blob's digest covers every byte). {@link #detach} stops all writes into the ingest: after it
 * returns, no thread writes there any more, and the ingest can be closed or aborted.
 */
final class TeeInputStream extends InputStream {
  private static final long PROGRESS_EVERY = 1 << 20;
  /** Bytes gathered before one write into the ingest: far fewer writes than HTTP chunks (16 KiB). */
  private static final int WRITE_BUFFER = 256 * 1024;

  private final InputStream source;
  private final OutputStream ingest;
  private final LongConsumer progress;
  private final BooleanSupplier abandoned;
  private volatile long count;
  private long lastProgress;
  private boolean detached;

  /**
   * @param writer where the bytes are copied, or null for none
   * @param progress told the bytes read so far, about every MiB and at the end
   * @param abandoned when true, the next read fails: nobody wants the layer any more
   */
  TeeInputStream(InputStream source, Writer writer, LongConsumer progress, BooleanSupplier abandoned) {
    this.source = source;
    this.ingest = writer == null ? null : new BufferedOutputStream(writer.outputStream(), WRITE_BUFFER);
    this.progress = progress;
    this.abandoned = abandoned;
  }

  @Override
  public int read() throws IOException {
    byte[] b = new byte[1];
    int n = read(b, 0, 1);
    return n < 0 ? -1 : b[0] & 0xff;
  }

  /**
   * Reads and copies under one lock: when an apply fails, its read-ahead thread may still be in a
   * read while {@link #drain} starts on another thread, and every byte must reach the ingest (and
   * its hash) in order, whoever consumes it.
   */
  @Override
  public synchronized int read(byte[] b, int off, int len) throws IOException {
    if (abandoned.getAsBoolean()) {
      throw new LaminaException(ErrorKind.UNAVAILABLE, "pull abandoned");
    }
    if (detached) {
      throw new IOException("layer download was stopped");
    }
    int n = source.read(b, off, len);
    if (n > 0) {
      if (ingest != null) {
        ingest.write(b, off, n);
      }
      long c = count + n;
      count = c;
      if (c - lastProgress >= PROGRESS_EVERY) {
        lastProgress = c;
        progress.accept(c);
      }
    }
    return n;
  }

  /** Bytes read (and written to the ingest) so far. */
  long count() {
    return count;
  }

  /** Reads the body to its end: the bytes after the compressed stream belong to the blob too. */
  void drain() throws IOException {
    drain(this);
    flush();
    progress.accept(count);
  }

  /** Reads {@code in} to its end. */
  static void drain(InputStream in) throws IOException {
    byte[] buf = new byte[64 * 1024];
    while (in.read(buf, 0, buf.length) >= 0) {
      // copied by read
    }
  }

  /** Writes what is buffered into the ingest; after a complete body, before the ingest commits. */
  synchronized void flush() throws IOException {
    if (ingest != null && !detached) {
      ingest.flush();
    }
  }

  /**
   * Stops every write into the ingest and closes the body: closing first unblocks a read in
   * flight, which holds the lock; once the lock is ours no read is running and none will write.
   */
  void detach() {
    try {
      source.close();
    } catch (IOException | RuntimeException ignored) {
      // closing is only to unblock a reader
    }
    synchronized (this) {
      if (!detached && ingest != null) {
        try {
          ingest.flush(); // what arrived is good: an ingest kept for resuming gets all of it
        } catch (IOException | RuntimeException ignored) {
          // the ingest is aborted or resumed from what did get written
        }
      }
      detached = true;
    }
  }

  /** The applier closes the decompression chain; the body stays open for {@link #drain}. */
  @Override
  public void close() {}
}
