package dev.lamina.fs;

import dev.lamina.posix.FileStat;
import dev.lamina.posix.Posix;
import dev.lamina.posix.PosixException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Copies a directory tree the way a copy-based snapshotter needs it (continuity's
 * {@code fs.CopyDir}): every type (directories, regular files, symlinks, devices, FIFOs,
 * sockets), permission bits including setuid/setgid/sticky, owner (when root), extended
 * attributes, hard links (as links, by device and inode), and modification times (access time
 * is set to the same value). Symlinks are copied, never followed.
 *
 * <p>Without root, ownership stays with the caller and only {@code user.*} xattrs are copied.
 */
public final class CopyDir {
  private final Posix posix = Posix.get();
  private final boolean root = posix.isRoot();
  private final Map<InodeKey, Path> links = new HashMap<>();
  private static final String OPAQUE = "trusted.overlay.opaque";
  /** Applying an overlay layer: whiteouts and overlay's own xattrs are markers, not content. */
  private boolean merging;

  private CopyDir() {}

  /**
   * Copies the contents and the attributes of directory {@code src} into the existing, empty
   * directory {@code dst}.
   */
  public static void copy(Path src, Path dst) throws IOException {
    CopyDir c = new CopyDir();
    FileStat st = c.posix.lstat(src);
    if (!st.isDirectory()) {
      throw new IOException("copy source " + src + " is not a directory");
    }
    c.copyDirectory(src, dst, st);
  }

  /**
   * Applies the overlay upper dir {@code layer} onto the full tree {@code target}, as mounting
   * it over {@code target} would show it: entries replace what is there; directories merge; a
   * char device 0/0 (an overlay whiteout) deletes the path; a directory marked
   * {@code trusted.overlay.opaque=y} replaces the directory instead of merging into it.
   * Whiteouts and the opaque mark themselves are not copied.
   */
  public static void merge(Path layer, Path target) throws IOException {
    CopyDir c = new CopyDir();
    c.merging = true;
    c.mergeDirectory(layer, target, c.posix.lstat(layer));
  }

  private void mergeDirectory(Path src, Path dst, FileStat st) throws IOException {
    for (Path child : list(src)) {
      Path target = dst.resolve(child.getFileName().toString());
      FileStat cst = posix.lstat(child);
      Optional<FileStat> existing = posix.lstatIfExists(target);
      if (cst.isOverlayWhiteout()) {
        if (existing.isPresent()) {
          RemoveAll.remove(target);
        }
        continue;
      }
      if (cst.isDirectory() && !isOpaque(child) && existing.isPresent() && existing.get().isDirectory()) {
        mergeDirectory(child, target, cst);
        continue;
      }
      if (existing.isPresent()) {
        RemoveAll.remove(target);
      }
      copyEntry(child, target, cst);
    }
    applyAttributes(src, dst, st);
  }

  private boolean isOpaque(Path dir) throws IOException {
    Optional<byte[]> v = root ? posix.getxattr(dir, OPAQUE) : Optional.empty();
    return v.isPresent() && v.get().length == 1 && v.get()[0] == 'y';
  }

  private void copyDirectory(Path src, Path dst, FileStat st) throws IOException {
    // children first, while the directory is still writable for us; attributes last, mtime last of all
    for (Path child : list(src)) {
      Path target = dst.resolve(child.getFileName().toString());
      FileStat cst = posix.lstat(child);
      copyEntry(child, target, cst);
    }
    applyAttributes(src, dst, st);
  }

  private void copyEntry(Path src, Path dst, FileStat st) throws IOException {
    if (merging && st.isOverlayWhiteout()) {
      return; // nothing below a new or opaque directory to hide
    }
    if (st.isDirectory()) {
      posix.mkdir(dst, 0700);
      copyDirectory(src, dst, st);
      return;
    }
    if (st.nlink() > 1) {
      InodeKey key = new InodeKey(st.device(), st.inode());
      Path first = links.get(key);
      if (first != null) {
        posix.link(first, dst);
        return;
      }
      links.put(key, dst);
    }
    switch (st.type()) {
      case FileStat.S_IFREG -> copyContent(src, dst);
      case FileStat.S_IFLNK -> posix.symlink(posix.readlink(src), dst);
      case FileStat.S_IFCHR, FileStat.S_IFBLK, FileStat.S_IFIFO, FileStat.S_IFSOCK ->
          posix.mknod(dst, st.type() | (st.permissions() & 0777), st.major(), st.minor());
      default -> throw new IOException("cannot copy " + src + ": unknown file type " + Integer.toOctalString(st.type()));
    }
    applyAttributes(src, dst, st);
  }

  private static void copyContent(Path src, Path dst) throws IOException {
    try (FileChannel in = FileChannel.open(src, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
        FileChannel out = FileChannel.open(dst, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS)) {
      long size = in.size();
      long pos = 0;
      while (pos < size) {
        long n = in.transferTo(pos, size - pos, out);
        if (n <= 0) {
          break; // the file shrank while we copied
        }
        pos += n;
      }
    }
  }

  /** Owner first (chown clears setuid bits and file capabilities), then mode, xattrs, times. */
  private void applyAttributes(Path src, Path dst, FileStat st) throws IOException {
    if (root) {
      posix.lchown(dst, st.uid(), st.gid());
    }
    if (!st.isSymlink()) {
      posix.chmod(dst, st.permissions());
    }
    copyXattrs(src, dst, st);
    posix.utimes(dst, st.mtimeNanos(), st.mtimeNanos());
  }

  private void copyXattrs(Path src, Path dst, FileStat st) throws IOException {
    for (String name : posix.listxattr(src)) {
      if (!root && !name.startsWith("user.")) {
        continue;
      }
      if (merging && name.startsWith("trusted.overlay.")) {
        continue;
      }
      Optional<byte[]> value = posix.getxattr(src, name);
      if (value.isEmpty()) {
        continue;
      }
      try {
        posix.setxattr(dst, name, value.get());
      } catch (PosixException e) {
        // user.* cannot be set on symlinks; a filesystem may refuse a namespace
        if (!(e.isNotSupported() || (st.isSymlink() && e.isPermissionDenied()))) {
          throw e;
        }
      }
    }
  }

  private static List<Path> list(Path dir) throws IOException {
    List<Path> children = new ArrayList<>();
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
      ds.forEach(children::add);
    }
    return children;
  }

  private record InodeKey(long device, long inode) {}
}
