package dev.lamina.archive;

import java.util.Collections;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * One tar header after PAX and GNU extensions are folded in.
 *
 * @param name the entry name exactly as the archive gives it (not yet cleaned)
 * @param mode permission bits including setuid, setgid and sticky ({@code 07777})
 * @param mtimeNanos modification time in nanoseconds since the epoch
 * @param linkName target of a symlink or hard link; empty otherwise
 * @param xattrs extended attributes from {@code SCHILY.xattr.*} records, raw bytes, sorted by name
 */
public record TarEntry(
    String name,
    Type type,
    int mode,
    int uid,
    int gid,
    String uname,
    String gname,
    long size,
    long mtimeNanos,
    String linkName,
    int devMajor,
    int devMinor,
    SortedMap<String, byte[]> xattrs) {

  /** The entry types an OCI layer may hold. */
  public enum Type {
    REGULAR('0'),
    HARDLINK('1'),
    SYMLINK('2'),
    CHAR_DEVICE('3'),
    BLOCK_DEVICE('4'),
    DIRECTORY('5'),
    FIFO('6');

    private final char flag;

    Type(char flag) {
      this.flag = flag;
    }

    public char flag() {
      return flag;
    }
  }

  public TarEntry {
    xattrs = Collections.unmodifiableSortedMap(new TreeMap<>(xattrs));
    uname = uname == null ? "" : uname;
    gname = gname == null ? "" : gname;
    linkName = linkName == null ? "" : linkName;
  }

  public static TarEntry directory(String name, int mode, int uid, int gid, long mtimeNanos) {
    return new TarEntry(name, Type.DIRECTORY, mode, uid, gid, "", "", 0, mtimeNanos, "", 0, 0, new TreeMap<>());
  }

  public static TarEntry file(String name, long size, int mode, int uid, int gid, long mtimeNanos) {
    return new TarEntry(name, Type.REGULAR, mode, uid, gid, "", "", size, mtimeNanos, "", 0, 0, new TreeMap<>());
  }

  public TarEntry withXattrs(Map<String, byte[]> x) {
    return new TarEntry(name, type, mode, uid, gid, uname, gname, size, mtimeNanos, linkName, devMajor, devMinor,
        new TreeMap<>(x));
  }

  public boolean hasContent() {
    return type == Type.REGULAR;
  }
}
