package dev.lamina.posix;

import java.io.IOException;

/** A failed native call: which call, on which path, and the errno it set. */
public final class PosixException extends IOException {
  private final int errno;
  private final String path;

  PosixException(String call, String path, int errno, String reason) {
    super(call + " " + path + ": " + reason);
    this.errno = errno;
    this.path = path;
  }

  public int errno() {
    return errno;
  }

  public String path() {
    return path;
  }

  public boolean isNotFound() {
    return errno == Errno.ENOENT;
  }

  public boolean isAlreadyExists() {
    return errno == Errno.EEXIST;
  }

  public boolean isPermissionDenied() {
    return errno == Errno.EPERM || errno == Errno.EACCES;
  }

  public boolean isNotSupported() {
    return errno == Errno.EOPNOTSUPP;
  }

  public boolean isNoData() {
    return errno == Errno.ENODATA;
  }
}
