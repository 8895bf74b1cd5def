package dev.lamina.posix;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Runtime;
import jnr.posix.NanosecondFileStat;
import jnr.posix.POSIX;
import jnr.posix.POSIXFactory;

/**
 * The one place lamina makes native calls. Every method works on the path itself and never
 * follows a final symlink (the {@code l*} variants), because a layer may plant symlinks where a
 * later entry writes.
 */
public final class Posix {
  private static final int AT_FDCWD = -100;
  private static final int AT_SYMLINK_NOFOLLOW = 0x100;
  private static final int O_RDONLY = 0;
  private static final int O_DIRECTORY = 0200000;
  private static final int O_CLOEXEC = 02000000;
  private static final int O_WRONLY = 01;
  private static final int O_CREAT = 0100;
  private static final int O_EXCL = 0200;
  private static final int O_NOFOLLOW = 0400000;
  private static final int XATTR_LIST_INITIAL = 1024;
  /** {@code _IOR('X', 31, struct fsxattr)} and {@code _IOW('X', 32, struct fsxattr)}, linux/fs.h. */
  private static final long FS_IOC_FSGETXATTR = 0x801c581fL;
  private static final long FS_IOC_FSSETXATTR = 0x401c5820L;
  private static final int FSXATTR_SIZE = 28;
  /** {@code QCMD(Q_GETQUOTA, PRJQUOTA)}: the generic Q_GETQUOTA (0x800007) on project quotas (2). */
  private static final int Q_GETQUOTA_PRJQUOTA = (0x800007 << 8) | 2;
  /** {@code struct if_dqblk}: eight 64-bit fields and a 32-bit one, padded to 8 bytes. */
  private static final int IF_DQBLK_SIZE = 72;

  private static final Posix INSTANCE = new Posix();

  private final POSIX posix;
  private final LibC libc;
  private final Runtime runtime;
  /** The process's umask, or -1 when it could not be read (then every mode is set explicitly). */
  private final int umask;

  private Posix() {
    this.posix = POSIXFactory.getNativePOSIX();
    this.libc = LibraryLoader.create(LibC.class).load("c");
    this.runtime = Runtime.getRuntime(libc);
    this.umask = readUmask(Path.of("/proc/self/status"));
  }

  /**
   * The {@code Umask:} line of a {@code /proc/<pid>/status} file (Linux 4.7 and later), or -1.
   * Read, not set: umask(2) would change it for every thread while it is being read.
   */
  static int readUmask(Path status) {
    try {
      for (String line : Files.readAllLines(status, StandardCharsets.UTF_8)) {
        if (line.startsWith("Umask:")) {
          return Integer.parseInt(line.substring("Umask:".length()).trim(), 8);
        }
      }
    } catch (IOException | NumberFormatException e) {
      // an older kernel or no /proc: modes are then always set after creation
    }
    return -1;
  }

  public static Posix get() {
    return INSTANCE;
  }

  public int geteuid() {
    return posix.geteuid();
  }

  public boolean isRoot() {
    return geteuid() == 0;
  }

  public FileStat lstat(Path path) throws PosixException {
    String p = path.toString();
    jnr.posix.FileStat st = posix.allocateStat();
    if (posix.lstat(p, st) != 0) {
      throw error("lstat", p);
    }
    return fileStat(st);
  }

  /**
   * {@code lstat}, or empty when nothing is at the path. Absence is an answer here, not an error:
   * no exception is built for it (callers ask this on every snapshot operation).
   */
  public Optional<FileStat> lstatIfExists(Path path) throws PosixException {
    String p = path.toString();
    jnr.posix.FileStat st = posix.allocateStat();
    if (posix.lstat(p, st) != 0) {
      int errno = errno();
      if (errno == Errno.ENOENT) {
        return Optional.empty();
      }
      throw error("lstat", p, errno);
    }
    return Optional.of(fileStat(st));
  }

  private static FileStat fileStat(jnr.posix.FileStat st) {
    long mtime = st.mtime() * 1_000_000_000L;
    if (st instanceof NanosecondFileStat ns) {
      mtime += ns.mTimeNanoSecs();
    }
    return new FileStat(
        st.mode(),
        st.uid(),
        st.gid(),
        st.st_size(),
        st.blocks(),
        st.ino(),
        st.dev(),
        st.nlink(),
        st.rdev(),
        mtime);
  }

  public void lchown(Path path, int uid, int gid) throws PosixException {
    String p = path.toString();
    if (posix.lchown(p, uid, gid) != 0) {
      throw error("lchown", p);
    }
  }

  /** chmod of a path the caller knows is not a symlink (Linux cannot chmod a symlink). */
  public void chmod(Path path, int mode) throws PosixException {
    String p = path.toString();
    if (posix.chmod(p, mode) != 0) {
      throw error("chmod", p);
    }
  }

  public void mkdir(Path path, int mode) throws PosixException {
    String p = path.toString();
    // libc, not jnr-posix: its mkdir reports errors (EEXIST too) as a RuntimeException
    if (libc.mkdir(p, mode) != 0) {
      throw error("mkdir", p);
    }
  }

  /**
   * {@code mkdir} of a directory whose permission bits must be {@code mode} whatever the umask: the
   * chmod that undoes the umask is left out when the umask takes none of those bits away and the
   * mode has no set-user-ID or set-group-ID bit (which mkdir does not set). A set-group-ID bit the
   * directory inherits from its parent stays when no chmod is needed, as with mkdir(2) (and
   * containerd's snapshotters, which do not chmod).
   */
  public void mkdirExact(Path path, int mode) throws PosixException {
    mkdir(path, mode);
    if (umask < 0 || (umask & mode) != 0 || (mode & 06000) != 0) {
      chmod(path, mode);
    }
  }

  public void symlink(String target, Path path) throws PosixException {
    String p = path.toString();
    if (posix.symlink(target, p) != 0) {
      throw error("symlink", p);
    }
  }

  /** A hard link at {@code path} to {@code existing}; a symlink at {@code existing} is linked itself. */
  public void link(Path existing, Path path) throws PosixException {
    String p = path.toString();
    if (posix.link(existing.toString(), p) != 0) {
      throw error("link", p);
    }
  }

  public String readlink(Path path) throws PosixException {
    String p = path.toString();
    try {
      String target = posix.readlink(p);
      if (target == null) {
        throw error("readlink", p);
      }
      return target;
    } catch (PosixException e) {
      throw e;
    } catch (IOException e) {
      throw new PosixException("readlink", p, posix.errno(), e.getMessage());
    }
  }

  /**
   * Creates a new regular file for writing and returns its descriptor. Fails with EEXIST when
   * anything, a symlink included, is already at the path: nothing is ever written through a link.
   */
  public int createExclusive(Path path, int mode) throws PosixException {
    String p = path.toString();
    int fd = libc.open(p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0) {
      throw error("open", p);
    }
    return fd;
  }

  /** Writes the first {@code len} bytes of {@code buf}, retrying short writes. */
  public void write(int fd, byte[] buf, int len, Path pathForErrors) throws PosixException {
    int done = 0;
    byte[] chunk = buf;
    while (done < len) {
      if (done > 0) {
        chunk = java.util.Arrays.copyOfRange(buf, done, len);
      }
      long n = libc.write(fd, chunk, (long) (len - done));
      if (n < 0) {
        throw error("write", pathForErrors.toString());
      }
      done += (int) n;
    }
  }

  public void fchown(int fd, int uid, int gid, Path pathForErrors) throws PosixException {
    if (libc.fchown(fd, uid, gid) != 0) {
      throw error("fchown", pathForErrors.toString());
    }
  }

  public void fchmod(int fd, int mode, Path pathForErrors) throws PosixException {
    if (libc.fchmod(fd, mode) != 0) {
      throw error("fchmod", pathForErrors.toString());
    }
  }

  public void futimes(int fd, long atimeNanos, long mtimeNanos, Path pathForErrors) throws PosixException {
    if (libc.futimens(fd, timespecs(atimeNanos, mtimeNanos)) != 0) {
      throw error("futimens", pathForErrors.toString());
    }
  }

  public void close(int fd, Path pathForErrors) throws PosixException {
    if (libc.close(fd) != 0) {
      throw error("close", pathForErrors.toString());
    }
  }

  /** Creates a device node or FIFO; {@code mode} carries the file type bits. */
  public void mknod(Path path, int mode, int major, int minor) throws PosixException {
    String p = path.toString();
    if (libc.mknod(p, mode, Devices.makedev(major, minor)) != 0) {
      throw error("mknod", p);
    }
  }

  public void mkfifo(Path path, int permissions) throws PosixException {
    mknod(path, FileStat.S_IFIFO | (permissions & FileStat.PERMISSION_MASK), 0, 0);
  }

  public void unlink(Path path) throws PosixException {
    String p = path.toString();
    if (posix.unlink(p) != 0) {
      throw error("unlink", p);
    }
  }

  public void rmdir(Path path) throws PosixException {
    String p = path.toString();
    // libc, not jnr-posix: its rmdir reports errors (ENOTEMPTY too) as a RuntimeException
    if (libc.rmdir(p) != 0) {
      throw error("rmdir", p);
    }
  }

  public void rename(Path from, Path to) throws PosixException {
    if (posix.rename(from.toString(), to.toString()) != 0) {
      throw error("rename", from + " -> " + to);
    }
  }

  /** Sets access and modification time, never following a final symlink. */
  public void utimes(Path path, long atimeNanos, long mtimeNanos) throws PosixException {
    String p = path.toString();
    if (libc.utimensat(AT_FDCWD, p, timespecs(atimeNanos, mtimeNanos), AT_SYMLINK_NOFOLLOW) != 0) {
      throw error("utimensat", p);
    }
  }

  public void setxattr(Path path, String name, byte[] value) throws PosixException {
    String p = path.toString();
    if (libc.lsetxattr(p, name, value, value.length, 0) != 0) {
      throw error("lsetxattr " + name, p);
    }
  }

  /** The value of one extended attribute, or empty when the path does not carry it. */
  public Optional<byte[]> getxattr(Path path, String name) throws PosixException {
    String p = path.toString();
    byte[] buf = new byte[256];
    while (true) {
      long n = libc.lgetxattr(p, name, buf, buf.length);
      if (n >= 0) {
        return Optional.of(java.util.Arrays.copyOf(buf, (int) n));
      }
      int errno = errno();
      if (errno == Errno.ENODATA) {
        return Optional.empty();
      }
      if (errno != Errno.ERANGE) {
        throw error("lgetxattr " + name, p, errno);
      }
      long size = libc.lgetxattr(p, name, null, 0);
      if (size < 0) {
        throw error("lgetxattr " + name, p);
      }
      buf = new byte[(int) Math.max(size, buf.length * 2L)];
    }
  }

  /** Names of the extended attributes on a path, in the order the filesystem lists them. */
  public List<String> listxattr(Path path) throws PosixException {
    String p = path.toString();
    byte[] buf = new byte[XATTR_LIST_INITIAL];
    long n;
    while (true) {
      n = libc.llistxattr(p, buf, buf.length);
      if (n >= 0) {
        break;
      }
      int errno = errno();
      if (errno == Errno.EOPNOTSUPP) {
        return List.of();
      }
      if (errno != Errno.ERANGE) {
        throw error("llistxattr", p, errno);
      }
      buf = new byte[buf.length * 4];
    }
    List<String> names = new ArrayList<>();
    int start = 0;
    for (int i = 0; i < n; i++) {
      if (buf[i] == 0) {
        if (i > start) {
          names.add(new String(buf, start, i - start, StandardCharsets.UTF_8));
        }
        start = i + 1;
      }
    }
    return names;
  }

  public void removexattr(Path path, String name) throws PosixException {
    String p = path.toString();
    if (libc.lremovexattr(p, name) != 0) {
      throw error("lremovexattr " + name, p);
    }
  }

  /** Flushes the whole filesystem that holds {@code path}: one call instead of an fsync per file. */
  public void syncfs(Path path) throws PosixException {
    String p = path.toString();
    int fd = libc.open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0) {
      throw error("open", p);
    }
    try {
      if (libc.syncfs(fd) != 0) {
        throw error("syncfs", p);
      }
    } finally {
      libc.close(fd);
    }
  }

  /**
   * Returns the native heap's free memory to the system (glibc's malloc_trim). Compilers, zlib and
   * SQLite free what they allocate, but malloc keeps the pages, so a burst of work leaves the
   * process larger than it needs to stay. A no-op where the C library has no such call.
   */
  public void trimNativeHeap() {
    try {
      libc.malloc_trim(0);
    } catch (UnsatisfiedLinkError e) {
      // not glibc: nothing to trim this way
    }
  }

  public void mount(String source, Path target, String fstype, long flags, String data) throws PosixException {
    String p = target.toString();
    if (libc.mount(source, p, fstype, flags, data) != 0) {
      throw error("mount " + fstype + " " + source, p);
    }
  }

  public void unmount(Path target, int flags) throws PosixException {
    String p = target.toString();
    if (libc.umount2(p, flags) != 0) {
      throw error("umount2", p);
    }
  }

  /** The {@code struct fsxattr} of a directory ({@code FS_IOC_FSGETXATTR}). */
  public FsXattr fsGetXattr(Path dir) throws PosixException {
    String p = dir.toString();
    int fd = openDirectory(p);
    try {
      byte[] buf = new byte[FSXATTR_SIZE];
      if (libc.ioctl(fd, FS_IOC_FSGETXATTR, buf) != 0) {
        throw error("ioctl FS_IOC_FSGETXATTR", p);
      }
      ByteBuffer b = ByteBuffer.wrap(buf).order(ByteOrder.nativeOrder());
      return new FsXattr(b.getInt(0), b.getInt(4), b.getInt(8), b.getInt(12) & 0xffff_ffffL, b.getInt(16));
    } finally {
      libc.close(fd);
    }
  }

  /**
   * Sets a directory's {@code struct fsxattr} ({@code FS_IOC_FSSETXATTR}): its flags, extent size
   * hints and project ID. Filesystems without project IDs refuse a non-zero one (EOPNOTSUPP on
   * ext4 without the {@code project} feature, ENOTTY where the ioctl is unknown).
   */
  public void fsSetXattr(Path dir, FsXattr x) throws PosixException {
    String p = dir.toString();
    int fd = openDirectory(p);
    try {
      ByteBuffer b = ByteBuffer.allocate(FSXATTR_SIZE).order(ByteOrder.nativeOrder());
      b.putInt(0, x.xflags()).putInt(4, x.extsize()).putInt(8, x.nextents()).putInt(12, (int) x.projectId())
          .putInt(16, x.cowextsize());
      if (libc.ioctl(fd, FS_IOC_FSSETXATTR, b.array()) != 0) {
        throw error("ioctl FS_IOC_FSSETXATTR", p);
      }
    } finally {
      libc.close(fd);
    }
  }

  /**
   * The project quota usage of project {@code id} on the filesystem whose block device is
   * {@code device}: {@code quotactl(QCMD(Q_GETQUOTA, PRJQUOTA), device, id, &dqblk)}. Fails with
   * ESRCH when project quota accounting is off, ENOSYS when the kernel has no quota support.
   */
  public DiskQuota projectQuota(Path device, long id) throws PosixException {
    String p = device.toString();
    byte[] buf = new byte[IF_DQBLK_SIZE];
    if (libc.quotactl(Q_GETQUOTA_PRJQUOTA, p, (int) id, buf) != 0) {
      throw error("quotactl Q_GETQUOTA project " + id, p);
    }
    ByteBuffer b = ByteBuffer.wrap(buf).order(ByteOrder.nativeOrder());
    return new DiskQuota(b.getLong(16), b.getLong(40));
  }

  private int openDirectory(String p) throws PosixException {
    int fd = libc.open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW, 0);
    if (fd < 0) {
      throw error("open", p);
    }
    return fd;
  }

  private static long[] timespecs(long atimeNanos, long mtimeNanos) {
    return new long[] {
      Math.floorDiv(atimeNanos, 1_000_000_000L), Math.floorMod(atimeNanos, 1_000_000_000L),
      Math.floorDiv(mtimeNanos, 1_000_000_000L), Math.floorMod(mtimeNanos, 1_000_000_000L)
    };
  }

  private int errno() {
    return runtime.getLastError();
  }

  private PosixException error(String call, String path) {
    return error(call, path, errno());
  }

  private PosixException error(String call, String path, int errno) {
    return new PosixException(call, path, errno, libc.strerror(errno));
  }
}
