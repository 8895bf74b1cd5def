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

  int close(int fd);

  int syncfs(int fd);

  int mount(String source, String target, String fstype, long flags, String data);

  int umount2(String target, int flags);

  String strerror(int errno);
}
