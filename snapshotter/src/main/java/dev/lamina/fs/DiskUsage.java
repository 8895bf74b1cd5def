package dev.lamina.fs;

import dev.lamina.posix.FileStat;
import dev.lamina.posix.Posix;
import dev.lamina.posix.PosixException;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashSet;
import java.util.Set;

/**
 * Disk usage of a tree, as {@code du -s --block-size=1} and {@code du -s --inodes} count it:
 * allocated 512-byte blocks and inodes of every entry including the root, an inode with several
 * hard links counted once (by device and inode number), symlinks never followed.
 *
 * @param inodes number of distinct inodes
 * @param size allocated bytes
 */
public record DiskUsage(long inodes, long size) {
  public static final DiskUsage ZERO = new DiskUsage(0, 0);

  public DiskUsage add(DiskUsage other) {
    return new DiskUsage(inodes + other.inodes, size + other.size);
  }

  /**
   * Measures the tree at {@code root}, which may also be a single file. Walks iteratively, so
   * deep trees do not exhaust the stack.
   */
  public static DiskUsage of(Path root) throws IOException {
    Posix posix = Posix.get();
    FileStat rootStat = posix.lstat(root);
    // only inodes with more than one link can be seen twice; du keeps the same set
    Set<InodeKey> seen = new HashSet<>();
    long inodes = 0;
    long bytes = 0;
    Deque<Path> dirs = new ArrayDeque<>();
    if (count(rootStat, seen)) {
      inodes++;
      bytes += rootStat.allocatedBytes();
    }
    if (rootStat.isDirectory()) {
      dirs.push(root);
    }
    while (!dirs.isEmpty()) {
      Path dir = dirs.pop();
      try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
        for (Path entry : entries) {
          FileStat st;
          try {
            st = posix.lstat(entry);
          } catch (PosixException e) {
            if (e.isNotFound()) {
              continue; // removed while we walked: du reports it and goes on; so do we
            }
            throw e;
          }
          if (count(st, seen)) {
            inodes++;
            bytes += st.allocatedBytes();
          }
          if (st.isDirectory()) {
            dirs.push(entry);
          }
        }
      } catch (NoSuchFileException e) {
        if (dir == root) {
          throw e;
        }
      }
    }
    return new DiskUsage(inodes, bytes);
  }

  private static boolean count(FileStat st, Set<InodeKey> seen) {
    if (st.isDirectory() || st.nlink() <= 1) {
      return true;
    }
    return seen.add(new InodeKey(st.device(), st.inode()));
  }

  private record InodeKey(long device, long inode) {}
}
