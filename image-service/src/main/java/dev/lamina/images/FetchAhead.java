package dev.lamina.images;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * Reads a layer's download on a thread of its own, a few buffers ahead of the decompression, so
 * that the network, the ingest writes and their hash overlap with decompressing. Unlike {@link
 * dev.lamina.io.ReadAheadInputStream} it recycles a fixed set of buffers: a 600 MB pull makes no
 * garbage here, which keeps the heap (and the daemon's RSS) small.
 *
 * <p>Errors of the source reach the reader where they happened. {@link #close} stops the reader
 * thread and waits for it, so that nothing reads the source afterwards.
 */
final class FetchAhead extends InputStream {
  private static final Object END = new Object();

  private final InputStream source;
  private final BlockingQueue<byte[]> free;
  private final BlockingQueue<Object> filled;
  private final Thread producer;
  private volatile boolean closed;
  private Chunk current;
  private int pos;
  private boolean ended;

  private record Chunk(byte[] data, int length) {}

  private record Failure(Throwable error) {}

  FetchAhead(InputStream source, int chunkSize, int chunks, String threadName) {
    this.source = source;
    this.free = new ArrayBlockingQueue<>(chunks);
    this.filled = new ArrayBlockingQueue<>(chunks + 1);
    for (int i = 0; i < chunks; i++) {
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
        int n = 0;
        int got = 0;
        while (got < buf.length && (n = source.read(buf, got, buf.length - got)) >= 0) {
          got += n;
          if (closed) {
            break;
          }
        }
        if (got > 0) {
          filled.put(new Chunk(buf, got));
        } else {
          free.put(buf);
        }
        if (n < 0) {
          filled.put(END);
          return;
        }
      }
    } catch (InterruptedException e) {
      // closed by the reader
    } catch (IOException | RuntimeException | Error e) {
      filled.offer(new Failure(e));
    }
  }

  private boolean fill() throws IOException {
    if (current != null) {
      free.offer(current.data());
      current = null;
    }
    if (ended) {
      return false;
    }
    Object next;
    try {
      next = filled.take();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted while reading a layer download");
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
    current = (Chunk) next;
    pos = 0;
    return true;
  }

  @Override
  public int read() throws IOException {
    byte[] b = new byte[1];
    int n = read(b, 0, 1);
    return n < 0 ? -1 : b[0] & 0xff;
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    if (len == 0) {
      return 0;
    }
    if (closed) {
      throw new IOException("layer download read-ahead closed");
    }
    if ((current == null || pos >= current.length()) && !fill()) {
      return -1;
    }
    int n = Math.min(len, current.length() - pos);
    System.arraycopy(current.data(), pos, b, off, n);
    pos += n;
    return n;
  }

  /**
   * Stops the reader thread and waits for it to end: it is interrupted, which ends a wait for the
   * network or for a free buffer (and makes an interrupted file write fail: a partial ingest is
   * then shorter, never wrong).
   */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    producer.interrupt();
    filled.clear();
    try {
      producer.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
