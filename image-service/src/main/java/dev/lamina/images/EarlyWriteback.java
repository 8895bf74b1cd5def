package dev.lamina.images;

import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.function.LongConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Flushes the filesystem layers unpack into, one flush after another on a thread of its own, for
 * as long as any layer is unpacking.
 *
 * <p>Why: a node's dirty-page thresholds are a share of its memory (gigabytes on most nodes), so
 * the kernel starts writing a pull's files only when something asks it to. Without this the disk
 * sits idle while the first layers unpack, hundreds of megabytes pile up in the page cache, and
 * the commits wait for all of it at the end. Flushing from the first unpack on keeps the disk
 * busy while the CPUs inflate and untar; the flush before each commit then finds little left.
 * Flushes start at most once per interval: a quick flush (little was dirty) waits out the rest
 * of it, so each finds a good stretch of data and the journal is not forced over and over; a
 * flush that took longer (the disk is the bottleneck) is followed at once, so the disk never
 * idles while layers unpack.
 *
 * <p>Each flush that succeeds is reported with the time it started, so a commit whose layer last
 * changed before then can skip its own.
 */
final class EarlyWriteback implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(EarlyWriteback.class);

  /** Writes back, and waits for, everything dirty on the filesystem holding a directory. */
  @FunctionalInterface
  interface Flusher {
    void flush(Path dir) throws IOException;
  }

  private final Flusher flusher;
  private final long intervalNanos;
  private final LongConsumer flushedFrom;
  private final Thread thread;
  private int unpacking;
  private Path dir;
  private boolean closed;

  /**
   * @param interval the shortest time from the start of one flush to the start of the next
   * @param flushedFrom told, after each flush that succeeded, when it started (System.nanoTime)
   */
  EarlyWriteback(Flusher flusher, long interval, TimeUnit unit, LongConsumer flushedFrom) {
    this.flusher = flusher;
    this.intervalNanos = unit.toNanos(interval);
    this.flushedFrom = flushedFrom;
    this.thread = new Thread(this::run, "lamina-writeback");
    thread.setDaemon(true);
    thread.start();
  }

  /** A layer starts unpacking into {@code dir}. */
  synchronized void begin(Path dir) {
    this.dir = dir;
    unpacking++;
    notifyAll();
  }

  /** A layer stopped unpacking, done or failed. */
  synchronized void end() {
    if (unpacking == 0) {
      throw new IllegalStateException("end() without begin()");
    }
    unpacking--;
  }

  private void run() {
    try {
      while (true) {
        Path target;
        synchronized (this) {
          while (unpacking == 0 && !closed) {
            wait();
          }
          if (closed) {
            return;
          }
          target = dir;
        }
        long start = System.nanoTime();
        try {
          flusher.flush(target);
          flushedFrom.accept(start);
        } catch (IOException | RuntimeException e) {
          // Only a head start: the flush before each commit reports what matters.
          LOG.debug("early writeback of {} failed: {}", target, e.toString());
        }
        long rest = intervalNanos - (System.nanoTime() - start);
        if (rest > 0) {
          TimeUnit.NANOSECONDS.sleep(rest);
        }
      }
    } catch (InterruptedException e) {
      // closing
    }
  }

  /** Stops the thread; a flush in progress finishes first. */
  @Override
  public void close() {
    synchronized (this) {
      closed = true;
      notifyAll();
    }
    thread.interrupt();
  }
}
