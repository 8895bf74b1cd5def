package dev.lamina.fstest;

import dev.lamina.posix.FileStat;
import dev.lamina.posix.Posix;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Optional;

/**
 * One step of a fixture: a value (records compare by value, so generated fixtures can be checked
 * for reproducibility) that knows how to apply itself under a root. Build them with the {@link
 * FsTree} factories; paths are relative, '/'-separated, and never pass through a symlink.
 *
 * <p>Creating ops ({@link File}, {@link Symlink}, {@link Link}, {@link Device}, {@link Fifo})
 * replace whatever non-directory is at the path, like tar extraction does, and refuse to replace a
 * directory: removing one must be an explicit {@link Remove}.
 */
public sealed interface FsOp {
  /** The relative path the op acts on; "." means the root itself where that makes sense. */
  String path();

  void applyTo(Path root) throws IOException;

  /** Creates a directory, or sets the mode of the directory already there. */
  record Dir(String path, int mode) implements FsOp {
    public Dir {
      FsTree.checkPath(path);
      FsTree.checkMode(mode);
    }

    @Override
    public void applyTo(Path root) throws IOException {
      Path p = FsTree.resolve(root, path, true);
      Optional<FileStat> st = Posix.get().lstatIfExists(p);
      if (st.isEmpty()) {
        Posix.get().mkdir(p, 0700);
      } else if (!st.get().isDirectory()) {
        throw new IOException("dir " + path + ": a non-directory is there; remove it first");
      }
      // explicit chmod: mkdir's mode is cut by the umask and never carries setuid/setgid/sticky
      Posix.get().chmod(p, mode);
    }

    @Override
    public String toString() {
      return "dir " + path + " " + FsTree.octal(mode);
    }
  }

  /** A new regular file: a fresh inode, so hard links to an old file at the path keep the old content. */
  record File(String path, byte[] content, int mode) implements FsOp {
    public File {
      FsTree.checkPath(path);
      FsTree.checkMode(mode);
      content = content.clone();
    }

    @Override
    public byte[] content() {
      return content.clone();
    }

    @Override
    public void applyTo(Path root) throws IOException {
      Path p = FsTree.clearForNonDirectory(root, path);
      // CREATE_NEW is O_EXCL: never writes through a symlink planted at the path
      Files.write(p, content, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
      Posix.get().chmod(p, mode);
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof File f && f.path.equals(path) && f.mode == mode && Arrays.equals(f.content, content);
    }

    @Override
    public int hashCode() {
      return (path.hashCode() * 31 + mode) * 31 + Arrays.hashCode(content);
    }

    @Override
    public String toString() {
      return "file " + path + " " + FsTree.octal(mode) + " " + FsTree.preview(content);
    }
  }

  record Symlink(String path, String target) implements FsOp {
    public Symlink {
      FsTree.checkPath(path);
      if (target.isEmpty() || target.indexOf('\0') >= 0) {
        throw new IllegalArgumentException("symlink " + path + ": bad target \"" + target + "\"");
      }
    }

    @Override
    public void applyTo(Path root) throws IOException {
      Posix.get().symlink(target, FsTree.clearForNonDirectory(root, path));
    }

    @Override
    public String toString() {
      return "symlink " + path + " -> " + target;
    }
  }

  /** A hard link at {@code path} to the existing {@code existing}, both relative to the root. */
  record Link(String path, String existing) implements FsOp {
    public Link {
      FsTree.checkPath(path);
      FsTree.checkPath(existing);
    }

    @Override
    public void applyTo(Path root) throws IOException {
      Path source = FsTree.resolve(root, existing, false);
      Path p = FsTree.clearForNonDirectory(root, path);
      Posix.get().link(source, p);
    }

    @Override
    public String toString() {
      return "link " + path + " => " + existing;
    }
  }

  /** Deletes the path and, for a directory, everything beneath; symlinks are removed, never followed. */
  record Remove(String path) implements FsOp {
    public Remove {
      FsTree.checkPath(path);
      if (path.equals(".")) {
        throw new IllegalArgumentException("remove: refusing to remove the root");
      }
    }

    @Override
    public void applyTo(Path root) throws IOException {
      FsTree.removeTree(FsTree.resolve(root, path, false));
    }

    @Override
    public String toString() {
      return "remove " + path;
    }
  }

  /** lchown, keeping setuid/setgid and file capabilities, which the kernel drops on chown. */
  record Chown(String path, int uid, int gid) implements FsOp {
    public Chown {
      FsTree.checkPath(path);
    }

    @Override
    public void applyTo(Path root) throws IOException {
      Path p = FsTree.resolve(root, path, false);
      Posix posix = Posix.get();
      FileStat before = posix.lstat(p);
      Optional<byte[]> caps = before.isRegularFile() ? posix.getxattr(p, FsTree.CAPABILITY_XATTR) : Optional.empty();
      posix.lchown(p, uid, gid);
      if (!before.isSymlink()) {
        posix.chmod(p, before.permissions());
      }
      if (caps.isPresent()) {
        posix.setxattr(p, FsTree.CAPABILITY_XATTR, caps.get());
      }
    }

    @Override
    public String toString() {
      return "chown " + path + " " + uid + ":" + gid;
    }
  }

  record Chmod(String path, int mode) implements FsOp {
    public Chmod {
      FsTree.checkPath(path);
      FsTree.checkMode(mode);
    }

    @Override
    public void applyTo(Path root) throws IOException {
      Path p = FsTree.resolve(root, path, false);
      if (Posix.get().lstat(p).isSymlink()) {
        throw new IOException("chmod " + path + ": Linux cannot chmod a symlink");
      }
      Posix.get().chmod(p, mode);
    }

    @Override
    public String toString() {
      return "chmod " + path + " " + FsTree.octal(mode);
    }
  }

  record Xattr(String path, String name, byte[] value) implements FsOp {
    public Xattr {
      FsTree.checkPath(path);
      FsTree.checkXattrName(name);
      value = value.clone();
    }

    @Override
    public byte[] value() {
      return value.clone();
    }

    @Override
    public void applyTo(Path root) throws IOException {
      Posix.get().setxattr(FsTree.resolve(root, path, false), name, value);
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Xattr x && x.path.equals(path) && x.name.equals(name) && Arrays.equals(x.value, value);
    }

    @Override
    public int hashCode() {
      return (path.hashCode() * 31 + name.hashCode()) * 31 + Arrays.hashCode(value);
    }

    @Override
    public String toString() {
      return "xattr " + path + " " + name + "=" + FsTree.preview(value);
    }
  }

  record RemoveXattr(String path, String name) implements FsOp {
    public RemoveXattr {
      FsTree.checkPath(path);
      FsTree.checkXattrName(name);
    }

    @Override
    public void applyTo(Path root) throws IOException {
      Posix.get().removexattr(FsTree.resolve(root, path, false), name);
    }

    @Override
    public String toString() {
      return "rmxattr " + path + " " + name;
    }
  }

  /** A char ({@code block == false}) or block device node; needs root. */
  record Device(String path, boolean block, int major, int minor, int mode) implements FsOp {
    public Device {
      FsTree.checkPath(path);
      FsTree.checkMode(mode);
      if (major < 0 || minor < 0) {
        throw new IllegalArgumentException("device " + path + ": negative major/minor");
      }
    }

    @Override
    public void applyTo(Path root) throws IOException {
      Path p = FsTree.clearForNonDirectory(root, path);
      Posix.get().mknod(p, (block ? FileStat.S_IFBLK : FileStat.S_IFCHR) | 0600, major, minor);
      Posix.get().chmod(p, mode);
    }

    @Override
    public String toString() {
      return (block ? "blockdev " : "chardev ") + path + " " + major + ":" + minor + " " + FsTree.octal(mode);
    }
  }

  record Fifo(String path, int mode) implements FsOp {
    public Fifo {
      FsTree.checkPath(path);
      FsTree.checkMode(mode);
    }

    @Override
    public void applyTo(Path root) throws IOException {
      Path p = FsTree.clearForNonDirectory(root, path);
      Posix.get().mkfifo(p, 0600);
      Posix.get().chmod(p, mode);
    }

    @Override
    public String toString() {
      return "fifo " + path + " " + FsTree.octal(mode);
    }
  }

  /**
   * Sets mtime (and atime) without following a symlink. Any later op that adds or removes a child
   * moves a directory's mtime again, so put these last.
   */
  record Mtime(String path, long nanos) implements FsOp {
    public Mtime {
      FsTree.checkPath(path);
    }

    @Override
    public void applyTo(Path root) throws IOException {
      Posix.get().utimes(FsTree.resolve(root, path, false), nanos, nanos);
    }

    @Override
    public String toString() {
      return "mtime " + path + " " + nanos;
    }
  }
}
