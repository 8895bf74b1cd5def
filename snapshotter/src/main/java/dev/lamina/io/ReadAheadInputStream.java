package dev.lamina.io;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * Reads its source on a thread of its own, a bounded number of chunks ahead, so that the work
 * behind the source (download, decompression, hashing) overlaps with the work of the reader
 * (writing files). Errors of the source reach the reader at the point they happened.
 */
public final class ReadAheadInputStream extends InputStream {
  private static final byte[] END = new byte[0];

  private final BlockingQueue<Object> chunks;
  /** Buffers handed back by the reader, so a layer does not turn into hundreds of MB of garbage. */
  private final BlockingQueue<byte[]> free;
  private final Thread producer;
  private byte[] current = new byte[0];
  private int pos;
  private int limit;
  private boolean ended;
  private volatile boolean closed;

  public ReadAheadInputStream(InputStream source, int chunkSize, int chunksAhead, String threadName) {
    this.chunks = new ArrayBlockingQueue<>(chunksAhead);
    // chunksAhead in the queue, one being filled, one being read.
    this.free = new ArrayBlockingQueue<>(chunksAhead + 2);
    for (int i = 0; i < chunksAhead + 2; i++) {
      free.add(new byte[chunkSize]);
    }
    this.producer = new Thread(() -> produce(source, chunkSize), threadName);
    this.producer.setDaemon(true);
    this.producer.start();
  }

  private void produce(InputStream source, int chunkSize) {
    try {
      while (!closed) {
        byte[] buf = free.take();
        int filled = 0;
        int n = 0;
        while (filled < chunkSize && (n = source.read(buf, filled, chunkSize - filled)) >= 0) {
          filled += n;
        }
        if (filled > 0) {
          chunks.put(new Chunk(buf, filled));
        } else {
          free.put(buf);
        }
        if (n < 0) {
          chunks.put(END);
          return;
        }
      }
    } catch (InterruptedException e) {
      // closed by the reader
    } catch (IOException | RuntimeException e) {
      try {
        chunks.put(e);
      } catch (InterruptedException ignored) {
        // closed by the reader
      }
    }
  }

  private record Chunk(byte[] data, int length) {}

  private boolean fill() throws IOException {
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
    if (next instanceof IOException e) {
      ended = true;
      throw e;
    }
    if (next instanceof RuntimeException e) {
      ended = true;
      throw e;
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

  @Override
  public void close() {
    closed = true;
    producer.interrupt();
    chunks.clear();
  }
}
