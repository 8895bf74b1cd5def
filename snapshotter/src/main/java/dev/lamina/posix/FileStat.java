package dev.lamina.posix;

/**
 * What {@code lstat(2)} says about one path, never following a final symlink.
 *
 * @param mode type and permission bits, as in {@code st_mode}
 * @param blocks allocated 512-byte blocks
 * @param rdev device number of a char or block device
 * @param mtimeNanos modification time in nanoseconds since the epoch
 */
public record FileStat(
    int mode,
    int uid,
    int gid,
    long size,
    long blocks,
    long inode,
    long device,
    int nlink,
    long rdev,
    long mtimeNanos) {

  public static final int S_IFMT = 0170000;
  public static final int S_IFSOCK = 0140000;
  public static final int S_IFLNK = 0120000;
  public static final int S_IFREG = 0100000;
  public static final int S_IFBLK = 0060000;
  public static final int S_IFDIR = 0040000;
  public static final int S_IFCHR = 0020000;
  public static final int S_IFIFO = 0010000;
  /** Permission bits together with setuid, setgid and sticky. */
  public static final int PERMISSION_MASK = 07777;

  public int type() {
    return mode & S_IFMT;
  }

  public int permissions() {
    return mode & PERMISSION_MASK;
  }

  public boolean isDirectory() {
    return type() == S_IFDIR;
  }

  public boolean isRegularFile() {
    return type() == S_IFREG;
  }

  public boolean isSymlink() {
    return type() == S_IFLNK;
  }

  public boolean isCharDevice() {
    return type() == S_IFCHR;
  }

  public boolean isBlockDevice() {
    return type() == S_IFBLK;
  }

  public boolean isFifo() {
    return type() == S_IFIFO;
  }

  /** A char device 0/0: how overlayfs marks a whiteout. */
  public boolean isOverlayWhiteout() {
    return isCharDevice() && rdev == 0;
  }

  public int major() {
    return Devices.major(rdev);
  }

  public int minor() {
    return Devices.minor(rdev);
  }

  /** Allocated bytes, as {@code du --block-size=1} counts them. */
  public long allocatedBytes() {
    return blocks * 512L;
  }
}
