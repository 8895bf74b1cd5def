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

  /** One file to finish; {@code buffer} returns to the pool afterwards. */
  record Job(int fd, Path target, String entryName, byte[] buffer, int length, boolean chown, int uid, int gid,
      int mode, long mtimeNanos, CountDownLatch barrier) {}

  private final Posix posix;
  private final BlockingQueue<byte[]> free = new ArrayBlockingQueue<>(BUFFERS);
  private final BlockingQueue<Job> jobs = new ArrayBlockingQueue<>(BUFFERS + 1);
  private final Thread thread;
  private volatile IOException failure;
  private volatile boolean stopping;

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
    put(job);
  }

  /** Waits until every file submitted is finished; throws the first failure. */
  void finish() throws IOException {
    CountDownLatch done = new CountDownLatch(1);
    put(new Job(-1, null, null, null, 0, false, 0, 0, 0, 0, done));
    try {
      done.await();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("interrupted waiting for files to be written");
    }
    rethrow();
  }

  private void put(Job job) throws IOException {
    try {
      jobs.put(job);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      if (job.fd() >= 0) {
        closeQuietly(job.fd());
      }
      throw new InterruptedIOException("interrupted handing over " + job.entryName());
    }
  }

  private void rethrow() throws IOException {
    IOException f = failure;
    if (f != null) {
      throw f;
    }
  }

  private void run() {
    while (true) {
      Job job;
      try {
        job = jobs.take();
      } catch (InterruptedException e) {
        if (stopping) {
          drainClosing();
          return;
        }
        continue;
      }
      if (job.barrier() != null) {
        job.barrier().countDown();
        continue;
      }
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
      posix.write(job.fd(), job.buffer(), job.length(), job.target());
      if (job.chown()) {
        posix.fchown(job.fd(), job.uid(), job.gid(), job.target());
      }
      // After chown: chown clears setuid and setgid.
      posix.fchmod(job.fd(), job.mode(), job.target());
      posix.futimes(job.fd(), job.mtimeNanos(), job.mtimeNanos(), job.target());
      closed = true;
      posix.close(job.fd(), job.target());
    } catch (PosixException e) {
      if (!closed) {
        closeQuietly(job.fd());
      }
      failure = new LaminaException(TarApplier.kindOf(e), "tar entry \"" + EntryNames.printable(job.entryName()) + "\": "
          + e.getMessage(), e);
    } catch (RuntimeException e) {
      if (!closed) {
        closeQuietly(job.fd());
      }
      failure = new LaminaException(ErrorKind.INTERNAL, "tar entry \"" + EntryNames.printable(job.entryName())
          + "\": " + e, e);
    }
  }

  private void drainClosing() {
    Job job;
    while ((job = jobs.poll()) != null) {
      if (job.barrier() != null) {
        job.barrier().countDown();
      } else {
        closeQuietly(job.fd());
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
    stopping = true;
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
