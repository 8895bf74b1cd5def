package dev.lamina.io;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * Reads its source on a thread of its own, a bounded number of chunks ahead, so that the work
 * behind the source (download, decompression, hashing) overlaps with the work of the reader
 * (writing files). A fixed set of buffers is recycled: a 600 MB layer makes no garbage here, which
 * keeps the heap (and the daemon's resident size) small. Errors of the source reach the reader at
 * the point they happened.
 */
public final class ReadAheadInputStream extends InputStream {
  private static final Object END = new Object();

  private final InputStream source;
  private final BlockingQueue<Object> chunks;
  /** Buffers handed back by the reader. */
  private final BlockingQueue<byte[]> free;
  private final Thread producer;
  private byte[] current = new byte[0];
  private int pos;
  private int limit;
  private boolean ended;
  private volatile boolean closed;

  private record Chunk(byte[] data, int length) {}

  private record Failure(Throwable error) {}

  public ReadAheadInputStream(InputStream source, int chunkSize, int chunksAhead, String threadName) {
    this.source = source;
    this.chunks = new ArrayBlockingQueue<>(chunksAhead + 1); // and room for the end or a failure
    // chunksAhead in the queue, one being filled, one being read.
    this.free = new ArrayBlockingQueue<>(chunksAhead + 2);
    for (int i = 0; i < chunksAhead + 2; i++) {
      free.add(new byte[chunkSize]);
    }
    this.producer = new Thread(this::produce, threadName);
    this.producer.setDaemon(true);
    this.producer.start();
  }

  private void produce() {
    try {
      while (!closed) {
        byte[] buf = free.take();
        int filled = 0;
        int n = 0;
        Throwable failure = null;
        try {
          while (filled < buf.length && (n = source.read(buf, filled, buf.length - filled)) >= 0) {
            filled += n;
            if (closed) {
              return;
            }
          }
        } catch (IOException | RuntimeException | Error e) {
          failure = e; // after the bytes that came before it
        }
        if (filled > 0) {
          chunks.put(new Chunk(buf, filled));
        } else {
          free.put(buf);
        }
        if (failure != null) {
          chunks.put(new Failure(failure));
          return;
        }
        if (n < 0) {
          chunks.put(END);
          return;
        }
      }
    } catch (InterruptedException e) {
      // closed by the reader
    }
  }

  private boolean fill() throws IOException {
    if (closed) {
      throw new IOException("read-ahead stream closed");
    }
    if (ended) {
      return false;
    }
    Object next;
    try {
      next = chunks.take();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while reading ahead");
    }
    if (next == END) {
      ended = true;
      return false;
    }
    if (next instanceof Failure f) {
      ended = true;
      Throwable t = f.error();
      if (t instanceof IOException io) {
        throw io;
      }
      if (t instanceof RuntimeException re) {
        throw re;
      }
      throw (Error) t;
    }
    Chunk c = (Chunk) next;
    if (current.length > 0) {
      free.offer(current);
    }
    current = c.data();
    pos = 0;
    limit = c.length();
    return true;
  }

  @Override
  public int read() throws IOException {
    if (pos >= limit && !fill()) {
      return -1;
    }
    return current[pos++] & 0xff;
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    if (len == 0) {
      return 0;
    }
    if (pos >= limit && !fill()) {
      return -1;
    }
    int n = Math.min(len, limit - pos);
    System.arraycopy(current, pos, b, off, n);
    pos += n;
    return n;
  }

  /**
   * Stops the reading thread without waiting for it (called by the reader): it is interrupted, which ends a wait for a
   * free buffer or for an interruptible source; one blocked in a read that is not (a program's
   * output) ends when that read returns.
   */
  @Override
  public void close() {
    closed = true;
    producer.interrupt();
    chunks.clear();
    // what is still buffered is dropped, so the next read goes to fill() and fails there: no
    // check of the closed flag on every read
    pos = limit = 0;
  }

  /**
   * {@link #close}, then waits for the reading thread to end, so that nothing reads the source
   * afterwards (for a source that writes as it is read, such as a tee into a file).
   */
  public void closeAndAwait() {
    close();
    try {
      producer.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
