package dev.lamina.diff;

import dev.lamina.archive.TarEntry;
import dev.lamina.archive.TarWriter;
import dev.lamina.archive.Whiteouts;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.posix.FileStat;
import dev.lamina.posix.Posix;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Turns changes under {@code source} (the upper tree) into layer entries, as containerd's
 * {@code archive.ChangeWriter}: every entry's ancestor directories go first, each once and with the
 * source's attributes; a deletion becomes a {@code .wh.} whiteout; files sharing an inode become
 * one regular entry and hard links to it.
 *
 * <p>Names are relative with {@code /} separators; directory entries end with {@code /} (as
 * containerd and GNU tar write them). The layer root itself is never an entry.
 */
final class ChangeWriter {
  private final Path source;
  private final TarWriter tar;
  private final Posix posix = Posix.get();
  /** Directories written so far; a directory is written only after its parent, so one lookup suffices. */
  private final Set<String> addedDirs = new HashSet<>();
  /** First entry written for each multiply-linked inode: later paths link to it. */
  private final Map<Inode, TarEntry> inodeSource = new HashMap<>();
  /** Unchanged paths of multiply-linked inodes: they must follow if the inode gets written. */
  private final Map<Inode, List<String>> inodeRefs = new HashMap<>();

  private record Inode(long device, long inode) {}

  ChangeWriter(Path source, TarWriter tar) {
    this.source = source;
    this.tar = tar;
  }

  /**
   * Records that {@code name} was removed. The header is fixed (regular, size 0, mode 0, uid and
   * gid 0, mtime 0, as containerd 2.x writes it) so that equal changes give equal layers.
   */
  void whiteout(String name) throws IOException {
    int slash = name.lastIndexOf('/');
    String parent = slash < 0 ? "" : name.substring(0, slash + 1);
    writeMarker(parent + Whiteouts.PREFIX + name.substring(slash + 1));
  }

  /** Marks directory {@code dir} opaque: what lower layers hold inside it is hidden. */
  void opaque(String dir) throws IOException {
    writeMarker(Names.child(dir, Whiteouts.OPAQUE));
  }

  private void writeMarker(String name) throws IOException {
    includeParents(name);
    tar.write(new TarEntry(name, TarEntry.Type.REGULAR, 0, 0, 0, "", "", 0, 0L, "", 0, 0, new TreeMap<>()),
        InputStream.nullInputStream());
  }

  /**
   * Writes {@code name} (added or modified) as found at {@code path}.
   *
   * @param xattrs the attributes for the layer when the caller has read them, else null
   */
  void change(String name, Path path, FileStat st, SortedMap<String, byte[]> xattrs) throws IOException {
    if (st.type() == FileStat.S_IFSOCK) {
      return; // sockets belong to a running process, not to an image (containerd skips them too)
    }
    if (st.isDirectory() && addedDirs.contains(name)) {
      return;
    }
    checkName(name);
    includeParents(name);
    if (st.isRegularFile() && st.nlink() > 1) {
      Inode inode = new Inode(st.device(), st.inode());
      TarEntry first = inodeSource.get(inode);
      if (first != null) {
        tar.write(linkTo(first, name), InputStream.nullInputStream());
        return;
      }
      TarEntry entry = entry(name, path, st, xattrs);
      inodeSource.put(inode, entry);
      writeContent(entry, path);
      List<String> earlier = inodeRefs.remove(inode);
      if (earlier != null) {
        // Unchanged paths of this inode would otherwise keep the lower's old file after apply.
        for (String other : earlier) {
          checkName(other);
          includeParents(other);
          tar.write(linkTo(entry, other), InputStream.nullInputStream());
        }
      }
      return;
    }
    TarEntry entry = entry(name, path, st, xattrs);
    if (entry.type() == TarEntry.Type.REGULAR) {
      writeContent(entry, path);
    } else {
      tar.write(entry, InputStream.nullInputStream());
      if (entry.type() == TarEntry.Type.DIRECTORY) {
        addedDirs.add(name);
      }
    }
  }

  /**
   * Notes an unchanged path. Only a path sharing its inode with others matters: if any of them is
   * written, this one is written as a hard link too, so the link survives the apply.
   */
  void unmodified(String name, FileStat st) throws IOException {
    if (!st.isRegularFile() || st.nlink() <= 1) {
      return;
    }
    Inode inode = new Inode(st.device(), st.inode());
    TarEntry first = inodeSource.get(inode);
    if (first != null) {
      checkName(name);
      includeParents(name);
      tar.write(linkTo(first, name), InputStream.nullInputStream());
    } else {
      inodeRefs.computeIfAbsent(inode, k -> new ArrayList<>()).add(name);
    }
  }

  private void checkName(String name) throws LaminaException {
    if (name.substring(name.lastIndexOf('/') + 1).startsWith(Whiteouts.PREFIX)) {
      // Every reader would take it for a whiteout and delete what it names.
      throw LaminaException.invalidArgument(source.resolve(name) + ": a file named " + Whiteouts.PREFIX
          + "* cannot be stored in an OCI layer");
    }
  }

  private void writeContent(TarEntry entry, Path path) throws IOException {
    if (entry.size() == 0) {
      tar.write(entry, InputStream.nullInputStream());
      return;
    }
    try (InputStream in = Files.newInputStream(path, LinkOption.NOFOLLOW_LINKS)) {
      tar.write(entry, in);
    }
  }

  /** Writes the directories above {@code name} that are not written yet, outermost first. */
  private void includeParents(String name) throws IOException {
    int slash = name.lastIndexOf('/');
    if (slash <= 0) {
      return; // the root is not an entry
    }
    String parent = name.substring(0, slash);
    if (addedDirs.contains(parent)) {
      return;
    }
    includeParents(parent);
    Path path = source.resolve(parent);
    FileStat st = posix.lstat(path);
    if (!st.isDirectory()) {
      throw new IOException(path + " changed while comparing: expected a directory");
    }
    tar.write(entry(parent, path, st, null), InputStream.nullInputStream());
    addedDirs.add(parent);
  }

  private TarEntry entry(String name, Path path, FileStat st, SortedMap<String, byte[]> xattrs)
      throws IOException {
    SortedMap<String, byte[]> x = xattrs != null ? xattrs : Xattrs.read(path);
    TarEntry.Type type;
    String entryName = name;
    String link = "";
    long size = 0;
    switch (st.type()) {
      case FileStat.S_IFDIR -> {
        type = TarEntry.Type.DIRECTORY;
        entryName = name + "/";
      }
      case FileStat.S_IFREG -> {
        type = TarEntry.Type.REGULAR;
        size = st.size();
      }
      case FileStat.S_IFLNK -> {
        type = TarEntry.Type.SYMLINK;
        link = posix.readlink(path);
      }
      case FileStat.S_IFCHR -> type = TarEntry.Type.CHAR_DEVICE;
      case FileStat.S_IFBLK -> type = TarEntry.Type.BLOCK_DEVICE;
      case FileStat.S_IFIFO -> type = TarEntry.Type.FIFO;
      default -> throw new IOException(path + ": file type 0" + Integer.toOctalString(st.type())
          + " cannot be put in a layer");
    }
    boolean device = type == TarEntry.Type.CHAR_DEVICE || type == TarEntry.Type.BLOCK_DEVICE;
    return new TarEntry(entryName, type, st.permissions(), st.uid(), st.gid(), "", "", size, st.mtimeNanos(),
        link, device ? st.major() : 0, device ? st.minor() : 0, x);
  }

  private static TarEntry linkTo(TarEntry first, String name) {
    return new TarEntry(name, TarEntry.Type.HARDLINK, first.mode(), first.uid(), first.gid(), "", "", 0,
        first.mtimeNanos(), first.name(), 0, 0, first.xattrs());
  }
}
