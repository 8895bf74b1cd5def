package dev.lamina.archive;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.posix.Posix;
import dev.lamina.posix.PosixException;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.Path;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;

/**
 * Finishes small files on a thread of its own: writes the content read ahead into one of its
 * buffers, then owner, mode and times on the descriptor, then closes it. The entry loop meanwhile
 * parses the next entries and creates their files, so a layer of many small files keeps two cores
 * busy instead of one.
 *
 * <p>Only descriptors cross over, never paths: what a later entry does to the namespace (replace a
 * parent with a symlink, remove the file) cannot redirect anything done here. Files with xattrs
 * are finished by the entry loop itself, because writing and chown clear security.capability and
 * xattrs can only be set after them, by path.
 */
final class FileFinisher implements AutoCloseable {
  /** Files up to this size are finished here. */
  static final int MAX_SIZE = 64 * 1024;
  private static final int BUFFERS = 16;

  /** One file to finish, its content in {@code buffer} (which returns to the pool afterwards). */
  record Job(int fd, Path target, TarEntry entry, byte[] buffer, boolean sameOwner) {}

  /** Counted down by the thread when it takes it: every job queued before is done. */
  private record Barrier(CountDownLatch done) {}

  private final Posix posix;
  private final BlockingQueue<byte[]> free = new ArrayBlockingQueue<>(BUFFERS);
  /** Jobs and barriers, in order. */
  private final BlockingQueue<Object> queue = new ArrayBlockingQueue<>(BUFFERS + 1);
  private final Thread thread;
  private volatile IOException failure;

  FileFinisher(Posix posix) {
    this.posix = posix;
    for (int i = 0; i < BUFFERS; i++) {
      free.add(new byte[MAX_SIZE]);
    }
    this.thread = new Thread(this::run, "layer-files");
    thread.setDaemon(true);
    thread.start();
  }

  /** Whether a second core is there to finish files on. */
  static boolean worthIt() {
    return Runtime.getRuntime().availableProcessors() > 1;
  }

  /** A free buffer of {@link #MAX_SIZE} bytes; waits for one. Throws a failure of earlier files. */
  byte[] buffer() throws IOException {
    rethrow();
    try {
      return free.take();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted waiting for a file buffer");
    }
  }

  /** Gives back a buffer {@link #buffer} handed out that is not submitted. */
  void release(byte[] buffer) {
    free.offer(buffer);
  }

  /** Hands the open file over; from here on this class closes {@code job.fd()}. */
  void submit(Job job) throws IOException {
    try {
      queue.put(job);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      closeQuietly(job.fd());
      throw new InterruptedIOException("interrupted handing over " + job.entry().name());
    }
  }

  /** Waits until every file submitted is finished; throws the first failure. */
  void finish() throws IOException {
    Barrier barrier = new Barrier(new CountDownLatch(1));
    try {
      queue.put(barrier);
      barrier.done().await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted waiting for files to be written");
    }
    rethrow();
  }

  private void rethrow() throws IOException {
    IOException f = failure;
    if (f != null) {
      throw f;
    }
  }

  /** Until {@link #close} interrupts it: the only interrupt there is. */
  private void run() {
    while (true) {
      Object next;
      try {
        next = queue.take();
      } catch (InterruptedException e) {
        drainClosing();
        return;
      }
      if (next instanceof Barrier b) {
        b.done().countDown();
        continue;
      }
      Job job = (Job) next;
      try {
        if (failure == null) {
          write(job);
        } else {
          closeQuietly(job.fd());
        }
      } finally {
        free.offer(job.buffer());
      }
    }
  }

  private void write(Job job) {
    boolean closed = false;
    try {
      posix.write(job.fd(), job.buffer(), (int) job.entry().size(), job.target());
      TarApplier.setAttributes(posix, job.fd(), job.entry(), job.sameOwner(), job.target());
      closed = true;
      posix.close(job.fd(), job.target());
    } catch (PosixException e) {
      if (!closed) {
        closeQuietly(job.fd());
      }
      failure = TarApplier.entryFailed(job.entry(), e);
    } catch (RuntimeException e) {
      // not left to kill the thread: finish() would wait for it forever
      if (!closed) {
        closeQuietly(job.fd());
      }
      failure = new LaminaException(ErrorKind.INTERNAL, "tar entry \""
          + EntryNames.printable(job.entry().name()) + "\": " + e, e);
    }
  }

  private void drainClosing() {
    Object next;
    while ((next = queue.poll()) != null) {
      if (next instanceof Barrier b) {
        b.done().countDown();
      } else {
        closeQuietly(((Job) next).fd());
      }
    }
  }

  private void closeQuietly(int fd) {
    try {
      posix.close(fd, Path.of("fd:" + fd));
    } catch (PosixException ignored) {
      // the write already failed or the layer is being given up
    }
  }

  /**
   * Stops the thread and waits for it: files still queued are closed unfinished (the apply failed;
   * the caller removes what it applied into).
   */
  @Override
  public void close() {
    thread.interrupt();
    boolean interrupted = false;
    while (thread.isAlive()) {
      try {
        thread.join();
      } catch (InterruptedException e) {
        interrupted = true;
      }
    }
    drainClosing();
    if (interrupted) {
      Thread.currentThread().interrupt();
    }
  }
}
