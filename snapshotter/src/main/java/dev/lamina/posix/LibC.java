package dev.lamina.posix;

import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

/** The libc calls jnr-posix does not offer. Bound once by {@link Posix}. */
public interface LibC {
  /** Here rather than jnr-posix's: that one throws a RuntimeException on failure instead of returning -1. */
  int mkdir(String path, int mode);

  /** Here rather than jnr-posix's, for the same reason as {@link #mkdir}. */
  int rmdir(String path);

  int mknod(String path, int mode, long dev);

  int lsetxattr(String path, String name, @In byte[] value, @size_t long size, int flags);

  @ssize_t
  long lgetxattr(String path, String name, @Out byte[] value, @size_t long size);

  @ssize_t
  long llistxattr(String path, @Out byte[] list, @size_t long size);

  int lremovexattr(String path, String name);

  int open(String path, int flags, int mode);

  // The calls on the per-file path of a layer apply are bound here directly: jnr-posix marshals
  // timespecs as Struct arrays and copies buffers both ways, which costs more than the syscall.
  @ssize_t
  long write(int fd, @In byte[] buf, @size_t long count);

  int fchown(int fd, int uid, int gid);

  int fchmod(int fd, int mode);

  /** {@code times} is two timespecs, {seconds, nanoseconds} each, as 64-bit values. */
  int futimens(int fd, @In long[] times);

  int utimensat(int dirfd, String path, @In long[] times, int flags);

  int close(int fd);

  int syncfs(int fd);

  /** glibc: gives memory that malloc holds free back to the system; 1 if some was released. */
  int malloc_trim(@size_t long pad);

  int mount(String source, String target, String fstype, long flags, String data);

  int umount2(String target, int flags);

  /** Only the requests whose argument is a pointer to a buffer ({@code struct fsxattr}). */
  int ioctl(int fd, long request, byte[] arg);

  int quotactl(int cmd, String special, int id, @Out byte[] addr);

  String strerror(int errno);
}
