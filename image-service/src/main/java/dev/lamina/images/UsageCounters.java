package dev.lamina.images;

import java.util.concurrent.atomic.AtomicLong;

/**
 * Bytes and inodes of the image filesystem: committed content blobs plus the recorded usage of
 * committed snapshots. Counted once when the manager opens, then moved by what the manager commits
 * and deletes, so reading them never walks a directory.
 */
final class UsageCounters {
  private final AtomicLong bytes = new AtomicLong();
  private final AtomicLong inodes = new AtomicLong();

  void add(long b, long i) {
    bytes.addAndGet(b);
    inodes.addAndGet(i);
  }

  void subtract(long b, long i) {
    add(-b, -i);
  }

  long bytes() {
    return Math.max(0, bytes.get());
  }

  long inodes() {
    return Math.max(0, inodes.get());
  }
}
