package dev.lamina.fstest;

import dev.lamina.posix.FileStat;
import dev.lamina.posix.Posix;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;

/**
 * A fixture DSL: describe a tree as a list of {@link FsOp} values and materialise it under a root.
 *
 * <pre>{@code
 * FsTree.apply(root,
 *     FsTree.dir("usr/bin", 0755),
 *     FsTree.file("usr/bin/tool", "#!/bin/sh\n", 04755),
 *     FsTree.symlink("bin", "usr/bin"),
 *     FsTree.link("usr/bin/tool2", "usr/bin/tool"));
 * }</pre>
 *
 * <p>Ops run in order. Missing parents are created 0755. Modes are exact (umask does not apply,
 * setuid/setgid/sticky stick, and a later {@link #chown} keeps them). Ops that need root (chown to
 * another id, device nodes, trusted.* xattrs) throw {@link dev.lamina.posix.PosixException} when
 * not root; guard such tests with {@link Root#assumeRoot()}.
 */
public final class FsTree {
  static final String CAPABILITY_XATTR = "security.capability";
  private static final int PARENT_MODE = 0755;

  private FsTree() {}

  public static FsOp.Dir dir(String path, int mode) {
    return new FsOp.Dir(path, mode);
  }

  public static FsOp.File file(String path, String content, int mode) {
    return new FsOp.File(path, utf8(content), mode);
  }

  public static FsOp.File file(String path, byte[] content, int mode) {
    return new FsOp.File(path, content, mode);
  }

  public static FsOp.Symlink symlink(String path, String target) {
    return new FsOp.Symlink(path, target);
  }

  /** A hard link at {@code path} to {@code existing}. */
  public static FsOp.Link link(String path, String existing) {
    return new FsOp.Link(path, existing);
  }

  public static FsOp.Remove remove(String path) {
    return new FsOp.Remove(path);
  }

  public static FsOp.Chown chown(String path, int uid, int gid) {
    return new FsOp.Chown(path, uid, gid);
  }

  public static FsOp.Chmod chmod(String path, int mode) {
    return new FsOp.Chmod(path, mode);
  }

  public static FsOp.Xattr xattr(String path, String name, byte[] value) {
    return new FsOp.Xattr(path, name, value);
  }

  public static FsOp.Xattr xattr(String path, String name, String value) {
    return new FsOp.Xattr(path, name, utf8(value));
  }

  public static FsOp.RemoveXattr removeXattr(String path, String name) {
    return new FsOp.RemoveXattr(path, name);
  }

  public static FsOp.Device chardev(String path, int major, int minor, int mode) {
    return new FsOp.Device(path, false, major, minor, mode);
  }

  public static FsOp.Device blockdev(String path, int major, int minor, int mode) {
    return new FsOp.Device(path, true, major, minor, mode);
  }

  public static FsOp.Fifo fifo(String path, int mode) {
    return new FsOp.Fifo(path, mode);
  }

  public static FsOp.Mtime mtime(String path, long nanos) {
    return new FsOp.Mtime(path, nanos);
  }

  public static void apply(Path root, FsOp... ops) throws IOException {
    apply(root, List.of(ops));
  }

  public static void apply(Path root, List<? extends FsOp> ops) throws IOException {
    Files.createDirectories(root);
    for (FsOp op : ops) {
      try {
        op.applyTo(root);
      } catch (IOException e) {
        // name the op: with generated fixtures the bare errno says little; the cause keeps the errno
        throw new IOException("fixture op failed: " + op + ": " + e.getMessage(), e);
      }
    }
  }

  /** Concatenates op lists, e.g. a base tree and the mutations on top of it. */
  @SafeVarargs
  public static List<FsOp> concat(List<? extends FsOp>... parts) {
    List<FsOp> all = new ArrayList<>();
    for (List<? extends FsOp> part : parts) {
      all.addAll(part);
    }
    return List.copyOf(all);
  }

  static void checkPath(String path) {
    if (path.equals(".")) {
      return;
    }
    if (path.isEmpty() || path.startsWith("/") || path.endsWith("/") || path.indexOf('\0') >= 0) {
      throw new IllegalArgumentException("bad fixture path \"" + path + "\": want relative a/b/c or \".\"");
    }
    for (String part : path.split("/", -1)) {
      if (part.isEmpty() || part.equals(".") || part.equals("..")) {
        throw new IllegalArgumentException("bad fixture path \"" + path + "\": empty, . or .. component");
      }
    }
  }

  static void checkMode(int mode) {
    if ((mode & ~FileStat.PERMISSION_MASK) != 0) {
      throw new IllegalArgumentException("mode " + octal(mode) + " has bits outside 07777");
    }
  }

  static void checkXattrName(String name) {
    if (name.indexOf('.') <= 0 || name.indexOf('\0') >= 0) {
      throw new IllegalArgumentException("bad xattr name \"" + name + "\": want namespace.name");
    }
  }

  /**
   * The path under root; every parent must be a real directory (never a symlink, so a fixture
   * cannot write outside the root), and missing ones are created when {@code createParents}.
   */
  static Path resolve(Path root, String path, boolean createParents) throws IOException {
    if (path.equals(".")) {
      return root;
    }
    String[] parts = path.split("/");
    Path cur = root;
    for (int i = 0; i < parts.length - 1; i++) {
      cur = cur.resolve(parts[i]);
      Optional<FileStat> st = Posix.get().lstatIfExists(cur);
      if (st.isEmpty()) {
        if (!createParents) {
          throw new IOException(path + ": parent " + root.relativize(cur) + " does not exist");
        }
        Posix.get().mkdir(cur, 0700);
        Posix.get().chmod(cur, PARENT_MODE);
      } else if (!st.get().isDirectory()) {
        throw new IOException(path + ": parent " + root.relativize(cur) + " is not a directory (symlinks are not followed)");
      }
    }
    return cur.resolve(parts[parts.length - 1]);
  }

  /** Resolves with parents created and unlinks a non-directory at the path; a directory stays an error. */
  static Path clearForNonDirectory(Path root, String path) throws IOException {
    Path p = resolve(root, path, true);
    Optional<FileStat> st = Posix.get().lstatIfExists(p);
    if (st.isPresent()) {
      if (st.get().isDirectory()) {
        throw new IOException(path + " is a directory; remove it first");
      }
      Posix.get().unlink(p);
    }
    return p;
  }

  static void removeTree(Path p) throws IOException {
    FileStat st = Posix.get().lstat(p);
    if (!st.isDirectory()) {
      Posix.get().unlink(p);
      return;
    }
    List<Path> children = new ArrayList<>();
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(p)) {
      ds.forEach(children::add);
    }
    for (Path child : children) {
      removeTree(child);
    }
    Posix.get().rmdir(p);
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  static String octal(int mode) {
    return String.format("%04o", mode);
  }

  /** Short printable form of bytes for op and diff messages. */
  static String preview(byte[] bytes) {
    boolean printable = bytes.length <= 40;
    for (byte b : bytes) {
      printable &= b >= 0x20 && b < 0x7f && b != '"';
    }
    if (printable) {
      return "\"" + new String(bytes, StandardCharsets.US_ASCII) + "\"";
    }
    String hex = HexFormat.of().formatHex(bytes, 0, Math.min(bytes.length, 8));
    return "<" + bytes.length + " bytes " + hex + (bytes.length > 8 ? "…" : "") + ">";
  }
}
