package dev.lamina.remotes;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Flow;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * An HTTP body as an {@link InputStream} whose reads give up when no bytes arrive for the stall
 * timeout: the subscription is cancelled (closing the connection) and the read fails UNAVAILABLE. It
 * requests one chunk list at a time, so a slow reader applies back pressure.
 */
final class TimedBodyInputStream extends InputStream implements Flow.Subscriber<List<ByteBuffer>> {
  private static final Object END = new Object();

  private final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
  private final long timeoutNanos;
  private final String what;
  private volatile Flow.Subscription subscription;
  private volatile boolean closed;
  private boolean outstanding = true; // onSubscribe requests the first list
  private boolean finished;
  private Iterator<ByteBuffer> chunks;
  private ByteBuffer current;

  private record Failure(Throwable error) {}

  TimedBodyInputStream(Flow.Publisher<List<ByteBuffer>> body, Duration stallTimeout, String what) {
    this.timeoutNanos = stallTimeout.toNanos();
    this.what = what;
    body.subscribe(this);
  }

  @Override
  public void onSubscribe(Flow.Subscription s) {
    subscription = s;
    if (closed) {
      s.cancel();
    } else {
      s.request(1);
    }
  }

  @Override
  public void onNext(List<ByteBuffer> item) {
    queue.add(item);
  }

  @Override
  public void onError(Throwable t) {
    queue.add(new Failure(t));
  }

  @Override
  public void onComplete() {
    queue.add(END);
  }

  private ByteBuffer next() throws IOException {
    while (true) {
      if (closed) {
        throw new IOException("stream closed: " + what);
      }
      if (current != null && current.hasRemaining()) {
        return current;
      }
      if (chunks != null && chunks.hasNext()) {
        current = chunks.next();
        continue;
      }
      if (finished) {
        return null;
      }
      if (!outstanding) {
        subscription.request(1);
        outstanding = true;
      }
      Object o;
      try {
        o = queue.poll(timeoutNanos, TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        close();
        throw new LaminaException(ErrorKind.UNAVAILABLE, "interrupted while reading " + what, e);
      }
      if (o == null) {
        close();
        throw new LaminaException(
            ErrorKind.UNAVAILABLE,
            "no data for " + seconds() + " while reading " + what
                + " (stalled: the progress timeout is " + seconds() + ")");
      }
      if (o == END) {
        finished = true;
        return null;
      }
      if (o instanceof Failure f) {
        finished = true;
        Throwable t = f.error();
        if (t instanceof IOException io) {
          throw io;
        }
        throw new IOException("reading " + what + ": " + t, t);
      }
      outstanding = false;
      @SuppressWarnings("unchecked")
      List<ByteBuffer> list = (List<ByteBuffer>) o;
      chunks = list.iterator();
    }
  }

  private String seconds() {
    double s = timeoutNanos / 1e9;
    return (s == Math.rint(s) ? String.valueOf((long) s) : String.valueOf(s)) + "s";
  }

  @Override
  public int read() throws IOException {
    ByteBuffer b = next();
    return b == null ? -1 : b.get() & 0xff;
  }

  @Override
  public int read(byte[] buf, int off, int len) throws IOException {
    if (len == 0) {
      return 0;
    }
    ByteBuffer b = next();
    if (b == null) {
      return -1;
    }
    int n = Math.min(len, b.remaining());
    b.get(buf, off, n);
    return n;
  }

  @Override
  public int available() {
    return current == null ? 0 : current.remaining();
  }

  /** Cancels the body when it was not read to the end; the connection is then not reused. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    Flow.Subscription s = subscription;
    if (s != null && !finished) {
      s.cancel();
    }
  }
}
