package dev.lamina.diff;

import dev.lamina.compression.Compression;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.posix.FileStat;
import dev.lamina.posix.Posix;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SortedMap;

/**
 * Compares two full trees by walking them side by side in name order (containerd's walking
 * differ, {@code continuity/fs.Changes}). Works on any pair of directories: two snapshots' views,
 * an overlay merged view against its lower, two plain copies.
 *
 * <p>A path is changed when its type, permission bits, owner, mtime, extended attributes (but
 * overlayfs' own), symlink target, device number, size, link count or content differ. Content is
 * read only when size and mtime are equal and the mtime has no nanoseconds, the sign of a
 * filesystem or copy that truncated it (continuity's {@code sameFile}). Directory entries are
 * written when their own attributes changed or when anything below them did.
 */
public final class WalkingComparer implements Comparer {
  private static final int CHUNK = 64 * 1024;

  public WalkingComparer() {}

  @Override
  public DiffResult compare(Path lower, Path upper, Compression compression, OutputStream out) throws IOException {
    requireDirectory(lower, "lower");
    requireDirectory(upper, "upper");
    return LayerStream.write(compression, out, tar -> new Walk(new ChangeWriter(upper, tar)).dirs("", lower, upper));
  }

  static void requireDirectory(Path dir, String role) throws IOException {
    if (Posix.get().lstatIfExists(dir).map(st -> !st.isDirectory()).orElse(true)) {
      throw LaminaException.invalidArgument(role + " " + dir + " is not a directory");
    }
  }

  /** The state of one comparison; comparers themselves are stateless and thread-safe. */
  private static final class Walk {
    private final Posix posix = Posix.get();
    private final ChangeWriter changes;
    private final byte[] lowerChunk = new byte[CHUNK];
    private final byte[] upperChunk = new byte[CHUNK];

    Walk(ChangeWriter changes) {
      this.changes = changes;
    }

    /** Compares the children of two directories that both hold the path {@code dir}. */
    void dirs(String dir, Path lowerDir, Path upperDir) throws IOException {
      List<String> lower = Names.sorted(lowerDir);
      List<String> upper = Names.sorted(upperDir);
      int i = 0;
      int j = 0;
      while (i < lower.size() || j < upper.size()) {
        int c = i == lower.size() ? 1 : j == upper.size() ? -1 : Names.compare(lower.get(i), upper.get(j));
        if (c < 0) {
          // Only the top-most removed path needs a whiteout: it takes its children with it.
          changes.whiteout(Names.child(dir, lower.get(i++)));
        } else if (c > 0) {
          String name = upper.get(j++);
          added(Names.child(dir, name), upperDir.resolve(name), null);
        } else {
          String name = upper.get(j++);
          i++;
          both(Names.child(dir, name), lowerDir.resolve(name), upperDir.resolve(name));
        }
      }
    }

    /** Writes {@code path} and, for a directory, everything below it. */
    private void added(String name, Path path, FileStat known) throws IOException {
      FileStat st = known != null ? known : posix.lstat(path);
      changes.change(name, path, st, null);
      if (st.isDirectory()) {
        for (String child : Names.sorted(path)) {
          added(Names.child(name, child), path.resolve(child), null);
        }
      }
    }

    private void both(String name, Path lowerPath, Path upperPath) throws IOException {
      FileStat l = posix.lstat(lowerPath);
      FileStat u = posix.lstat(upperPath);
      if (l.device() == u.device() && l.inode() == u.inode()) {
        // The same inode (a tree compared with itself, or hard-linked copies): nothing below differs.
        changes.unmodified(name, u);
        return;
      }
      if (l.type() != u.type()) {
        // A replacement: the applier removes what is there unless both are directories, so a
        // directory that became a file needs no whiteouts for its children.
        added(name, upperPath, u);
        return;
      }
      if (u.isDirectory()) {
        SortedMap<String, byte[]> ux = Xattrs.read(upperPath);
        if (!sameAttributes(l, u) || !Xattrs.equal(Xattrs.read(lowerPath), ux)) {
          changes.change(name, upperPath, u, ux);
        }
        dirs(name, lowerPath, upperPath);
        return;
      }
      if (!sameAttributes(l, u)) {
        changes.change(name, upperPath, u, null);
        return;
      }
      SortedMap<String, byte[]> ux = Xattrs.read(upperPath);
      if (!Xattrs.equal(Xattrs.read(lowerPath), ux) || !sameData(l, lowerPath, u, upperPath)) {
        changes.change(name, upperPath, u, ux);
      } else {
        changes.unmodified(name, u);
      }
    }

    /** What lstat tells, for two paths of the same type. */
    private static boolean sameAttributes(FileStat l, FileStat u) {
      if (l.mode() != u.mode() || l.uid() != u.uid() || l.gid() != u.gid() || l.mtimeNanos() != u.mtimeNanos()) {
        return false;
      }
      return switch (u.type()) {
        case FileStat.S_IFDIR, FileStat.S_IFIFO, FileStat.S_IFSOCK -> true;
        case FileStat.S_IFCHR, FileStat.S_IFBLK -> l.rdev() == u.rdev();
        case FileStat.S_IFLNK -> l.size() == u.size();
        // A changed link count means paths joined or left a hard-link group: rewrite the group.
        case FileStat.S_IFREG -> l.size() == u.size() && l.nlink() == u.nlink();
        default -> true;
      };
    }

    private boolean sameData(FileStat l, Path lowerPath, FileStat u, Path upperPath) throws IOException {
      if (u.isSymlink()) {
        return posix.readlink(lowerPath).equals(posix.readlink(upperPath));
      }
      if (!u.isRegularFile() || u.size() == 0) {
        return true;
      }
      if (u.mtimeNanos() % 1_000_000_000L != 0) {
        // Equal nanosecond mtimes and sizes: trusted, as containerd does, to spare reading both files.
        return true;
      }
      return sameContent(lowerPath, upperPath);
    }

    private boolean sameContent(Path lowerPath, Path upperPath) throws IOException {
      try (InputStream a = Files.newInputStream(lowerPath, LinkOption.NOFOLLOW_LINKS);
          InputStream b = Files.newInputStream(upperPath, LinkOption.NOFOLLOW_LINKS)) {
        while (true) {
          int na = a.readNBytes(lowerChunk, 0, CHUNK);
          int nb = b.readNBytes(upperChunk, 0, CHUNK);
          if (na != nb || Arrays.mismatch(lowerChunk, 0, na, upperChunk, 0, nb) >= 0) {
            return false;
          }
          if (na < CHUNK) {
            return true;
          }
        }
      }
    }
  }
}
