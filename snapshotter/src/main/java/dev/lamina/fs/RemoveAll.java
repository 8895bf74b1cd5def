package dev.lamina.fs;

import dev.lamina.errdefs.LaminaException;
import dev.lamina.mount.MountInfo;
import dev.lamina.posix.Errno;
import dev.lamina.posix.FileStat;
import dev.lamina.posix.Posix;
import dev.lamina.posix.PosixException;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Optional;

/**
 * Deletes a tree, never following symlinks and never entering a mount: before anything is deleted
 * {@code /proc/self/mountinfo} must show no mount point at or below the path, and a directory on
 * another device than the root stops the walk. Entries that vanish meanwhile (another remover
 * racing) are not errors.
 */
public final class RemoveAll {
  private RemoveAll() {}

  public static void remove(Path path) throws IOException {
    Posix posix = Posix.get();
    Optional<FileStat> rootStat = posix.lstatIfExists(path);
    if (rootStat.isEmpty()) {
      return;
    }
    if (!rootStat.get().isDirectory()) {
      unlinkIfExists(path);
      return;
    }
    Path real;
    try {
      real = path.toRealPath();
    } catch (NoSuchFileException e) {
      return;
    }
    List<Path> mounted = MountInfo.mountsAtOrUnder(real);
    if (!mounted.isEmpty()) {
      throw LaminaException.failedPrecondition("refusing to delete " + path + ": still mounted at " + mounted);
    }
    long device = rootStat.get().device();
    // iterative post-order walk: a directory is pushed again, marked, after its children
    Deque<Path> stack = new ArrayDeque<>();
    Deque<Boolean> listed = new ArrayDeque<>();
    stack.push(path);
    listed.push(false);
    while (!stack.isEmpty()) {
      Path dir = stack.pop();
      boolean done = listed.pop();
      if (done) {
        rmdirIfExists(dir);
        continue;
      }
      stack.push(dir);
      listed.push(true);
      for (Path child : list(dir)) {
        Optional<FileStat> st = posix.lstatIfExists(child);
        if (st.isEmpty()) {
          continue;
        }
        if (st.get().isDirectory()) {
          if (st.get().device() != device) {
            throw LaminaException.failedPrecondition("refusing to delete " + child + ": another filesystem is mounted there");
          }
          stack.push(child);
          listed.push(false);
        } else {
          unlinkIfExists(child);
        }
      }
    }
  }

  private static List<Path> list(Path dir) throws IOException {
    List<Path> children = new ArrayList<>();
    try {
      makeWritable(dir);
      try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
        ds.forEach(children::add);
      }
    } catch (NoSuchFileException e) {
      // gone already
    }
    return children;
  }

  /** Without root a 0555 directory keeps its entries; with root this never changes anything. */
  private static void makeWritable(Path dir) throws IOException {
    if (Posix.get().isRoot()) {
      return;
    }
    Optional<FileStat> st = Posix.get().lstatIfExists(dir);
    if (st.isPresent() && (st.get().permissions() & 0700) != 0700) {
      Posix.get().chmod(dir, st.get().permissions() | 0700);
    }
  }

  private static void unlinkIfExists(Path p) throws IOException {
    try {
      Posix.get().unlink(p);
    } catch (PosixException e) {
      if (!e.isNotFound()) {
        throw e;
      }
    }
  }

  private static void rmdirIfExists(Path p) throws IOException {
    try {
      Posix.get().rmdir(p);
    } catch (PosixException e) {
      if (!e.isNotFound()) {
        if (e.errno() == Errno.EBUSY) {
          throw LaminaException.failedPrecondition("refusing to delete " + p + ": it is a mount point");
        }
        throw e;
      }
    }
  }
}
