package dev.lamina.fstest;

import dev.lamina.digest.Digest;
import dev.lamina.posix.FileStat;
import dev.lamina.posix.Posix;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * What a tree looks like, as a sorted map from relative path ('/'-separated) to {@link Entry}.
 * The root itself is left out unless {@link Options#includingRoot()}, in which case it is the
 * path "."; a temp dir's own mode is rarely what a test is about.
 *
 * <p>By default every field is compared except mtimes; see {@link Options}.
 */
public record TreeSnapshot(SortedMap<String, Entry> entries, Options options) {

  public TreeSnapshot {
    entries = Collections.unmodifiableSortedMap(new TreeMap<>(entries));
    Objects.requireNonNull(options);
  }

  public enum Type {
    DIR("dir"),
    FILE("file"),
    SYMLINK("symlink"),
    CHARDEV("chardev"),
    BLOCKDEV("blockdev"),
    FIFO("fifo"),
    SOCKET("socket");

    private final String label;

    Type(String label) {
      this.label = label;
    }

    @Override
    public String toString() {
      return label;
    }

    static Type of(FileStat st) {
      return switch (st.type()) {
        case FileStat.S_IFDIR -> DIR;
        case FileStat.S_IFREG -> FILE;
        case FileStat.S_IFLNK -> SYMLINK;
        case FileStat.S_IFCHR -> CHARDEV;
        case FileStat.S_IFBLK -> BLOCKDEV;
        case FileStat.S_IFIFO -> FIFO;
        case FileStat.S_IFSOCK -> SOCKET;
        default -> throw new IllegalStateException("unknown file type " + Integer.toOctalString(st.type()));
      };
    }
  }

  /**
   * One path. Fields that do not apply to the type, or that the options leave out, are null, so
   * records compare by value.
   *
   * @param permissions mode bits 07777, including setuid, setgid and sticky
   * @param size byte length of a regular file
   * @param sha256 hex SHA-256 of a regular file's content
   * @param linkTarget what a symlink points to, verbatim
   * @param xattrs name to hex value, sorted by name
   * @param hardLinkGroup for a non-directory sharing its inode with another path in the tree: the
   *     lexicographically smallest path of that group, so equal link structures compare equal
   * @param mtimeSeconds whole seconds, only with {@link Options#withMtimes()}
   */
  public record Entry(
      Type type,
      int permissions,
      Integer uid,
      Integer gid,
      Long size,
      String sha256,
      String linkTarget,
      Integer major,
      Integer minor,
      SortedMap<String, String> xattrs,
      String hardLinkGroup,
      Long mtimeSeconds) {

    public Entry {
      Objects.requireNonNull(type);
      xattrs = Collections.unmodifiableSortedMap(new TreeMap<>(xattrs));
    }

    Entry withHardLinkGroup(String group) {
      return new Entry(type, permissions, uid, gid, size, sha256, linkTarget, major, minor, xattrs, group, mtimeSeconds);
    }
  }

  /**
   * What a snapshot records beyond type, permissions, content, link target, device numbers and
   * xattrs (always).
   *
   * @param mtimes record mtime seconds of every entry (directories too)
   * @param ownership record uid and gid; turn off for runs that cannot chown
   * @param hardLinks record hard-link groups
   * @param root record the root directory as "."
   * @param ignoredXattrPrefixes xattr names starting with any of these are left out, e.g.
   *     "security.selinux"
   */
  public record Options(boolean mtimes, boolean ownership, boolean hardLinks, boolean root, List<String> ignoredXattrPrefixes) {
    public static final Options DEFAULT = new Options(false, true, true, false, List.of());

    public Options {
      ignoredXattrPrefixes = List.copyOf(ignoredXattrPrefixes);
    }

    public Options withMtimes() {
      return new Options(true, ownership, hardLinks, root, ignoredXattrPrefixes);
    }

    public Options ignoringOwnership() {
      return new Options(mtimes, false, hardLinks, root, ignoredXattrPrefixes);
    }

    public Options ignoringHardLinks() {
      return new Options(mtimes, ownership, false, root, ignoredXattrPrefixes);
    }

    public Options includingRoot() {
      return new Options(mtimes, ownership, hardLinks, true, ignoredXattrPrefixes);
    }

    public Options ignoringXattrs(String... prefixes) {
      List<String> all = new ArrayList<>(ignoredXattrPrefixes);
      all.addAll(List.of(prefixes));
      return new Options(mtimes, ownership, hardLinks, root, all);
    }

    boolean keepsXattr(String name) {
      return ignoredXattrPrefixes.stream().noneMatch(name::startsWith);
    }
  }

  public static TreeSnapshot of(Path root) throws IOException {
    return of(root, Options.DEFAULT);
  }

  public static TreeSnapshot of(Path root, Options options) throws IOException {
    if (!Posix.get().lstat(root).isDirectory()) {
      throw new IOException(root + " is not a directory");
    }
    return new Reader(root, options).read();
  }

  public Optional<Entry> get(String path) {
    return Optional.ofNullable(entries.get(path));
  }

  /** Differences from this (expected) snapshot to {@code actual}, one readable line each, sorted by path. */
  public List<String> differences(TreeSnapshot actual) {
    if (!options.equals(actual.options)) {
      throw new IllegalArgumentException("snapshots taken with different options: " + options + " vs " + actual.options);
    }
    return TreeDiff.lines(this, actual);
  }

  /** Walks the tree without following symlinks, then labels hard-link groups. */
  private static final class Reader {
    private final Path root;
    private final Options options;
    private final SortedMap<String, Entry> entries = new TreeMap<>();
    private final Map<List<Long>, TreeSet<String>> inodes = new HashMap<>();

    Reader(Path root, Options options) {
      this.root = root;
      this.options = options;
    }

    TreeSnapshot read() throws IOException {
      if (options.root()) {
        entries.put(".", entry(root, ".", Posix.get().lstat(root)));
      }
      walk(root, "");
      if (options.hardLinks()) {
        for (TreeSet<String> group : inodes.values()) {
          if (group.size() > 1) {
            for (String path : group) {
              entries.put(path, entries.get(path).withHardLinkGroup(group.first()));
            }
          }
        }
      }
      return new TreeSnapshot(entries, options);
    }

    private void walk(Path dir, String prefix) throws IOException {
      List<Path> children = new ArrayList<>();
      try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
        ds.forEach(children::add);
      }
      for (Path child : children) {
        String rel = prefix + child.getFileName().toString();
        FileStat st = Posix.get().lstat(child);
        entries.put(rel, entry(child, rel, st));
        if (st.isDirectory()) {
          walk(child, rel + "/");
        } else if (st.nlink() > 1) {
          inodes.computeIfAbsent(List.of(st.device(), st.inode()), k -> new TreeSet<>()).add(rel);
        }
      }
    }

    private Entry entry(Path p, String rel, FileStat st) throws IOException {
      Type type = Type.of(st);
      boolean device = type == Type.CHARDEV || type == Type.BLOCKDEV;
      return new Entry(
          type,
          st.permissions(),
          options.ownership() ? st.uid() : null,
          options.ownership() ? st.gid() : null,
          type == Type.FILE ? st.size() : null,
          type == Type.FILE ? sha256(p) : null,
          type == Type.SYMLINK ? Posix.get().readlink(p) : null,
          device ? st.major() : null,
          device ? st.minor() : null,
          xattrs(p),
          null,
          options.mtimes() ? Math.floorDiv(st.mtimeNanos(), 1_000_000_000L) : null);
    }

    private SortedMap<String, String> xattrs(Path p) throws IOException {
      SortedMap<String, String> out = new TreeMap<>();
      for (String name : Posix.get().listxattr(p)) {
        if (options.keepsXattr(name)) {
          Posix.get().getxattr(p, name).ifPresent(v -> out.put(name, HexFormat.of().formatHex(v)));
        }
      }
      return out;
    }

    private static String sha256(Path p) throws IOException {
      MessageDigest md = Digest.newSha256();
      try (InputStream in = Files.newInputStream(p, LinkOption.NOFOLLOW_LINKS)) {
        byte[] buf = new byte[64 * 1024];
        for (int n; (n = in.read(buf)) > 0; ) {
          md.update(buf, 0, n);
        }
      }
      return HexFormat.of().formatHex(md.digest());
    }
  }
}
