package dev.lamina.quota;

import dev.lamina.fs.RemoveAll;
import dev.lamina.posix.Devices;
import dev.lamina.posix.DiskQuota;
import dev.lamina.posix.FileStat;
import dev.lamina.posix.FsXattr;
import dev.lamina.posix.Posix;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Project quota accounting on one filesystem: ext4 with the {@code project} and {@code quota}
 * features mounted with {@code prjquota}, or xfs mounted with {@code prjquota}. A directory given
 * a project ID with {@code FS_XFLAG_PROJINHERIT} passes it to everything created under it, and
 * the kernel charges each inode and its allocated blocks to its project: one {@code quotactl}
 * reads a tree's usage whatever its size, where a walk costs one {@code lstat} per file.
 *
 * <p>quotactl names a filesystem by its block device. Like containers/storage, {@link #probe}
 * makes a block device node with the directory's {@code st_dev} at a path of the caller's (on a
 * filesystem not mounted {@code nodev}), so no {@code /dev} entry is needed.
 *
 * <p>What a project is charged, against {@code du -s --block-size=1} and {@code du -s --inodes}
 * of the same tree: the same allocated bytes for regular files (sparse files by the blocks they
 * hold, space reserved for delayed allocation included on both sides), directories, symlinks,
 * special files and external xattr blocks; an inode with several hard links once, as du counts
 * it. The difference is where the project's inodes are: everything carrying the ID, wherever it
 * is, against du's one tree.
 */
public final class ProjectQuota {
  /** Project IDs start above this when the directory probed has none (ID 0). */
  public static final long DEFAULT_BASE = 0x6c00_0000L;
  private static final long MAX_ID = 0xffff_fffeL;

  private final Posix posix = Posix.get();
  private final Path device;
  private final long base;

  private ProjectQuota(Path device, long base) {
    this.device = device;
    this.base = base;
  }

  /**
   * Whether the filesystem of {@code dir} accounts project quotas: the quota, or why not.
   *
   * @param quota present when it does
   * @param description what was found, for a log line
   */
  public record Probe(Optional<ProjectQuota> quota, String description) {}

  /**
   * Finds out whether project quotas work in {@code dir}: gives a new directory in it a project
   * ID, checks that a directory made inside takes it, and that quotactl counts both. The base of
   * the IDs handed out ({@link #projectId(long)}) is {@code dir}'s own project ID, or
   * {@link #DEFAULT_BASE} when it has none. Writes a block device node at {@code deviceNode}
   * (replacing what is there). Never throws: a failure is an answer.
   */
  public static Probe probe(Path dir, Path deviceNode) {
    Posix posix = Posix.get();
    FileStat st;
    try {
      st = posix.lstat(dir);
    } catch (IOException e) {
      return unsupported(dir, e.getMessage());
    }
    int major = Devices.major(st.device());
    int minor = Devices.minor(st.device());
    if (major == 0) {
      return unsupported(dir, "its filesystem is not on a block device (st_dev 0:" + minor
          + ", as tmpfs, overlayfs or btrfs), so quotactl cannot name it");
    }
    long base;
    try {
      FsXattr x = posix.fsGetXattr(dir);
      base = x.projectId() != 0 ? x.projectId() : DEFAULT_BASE;
    } catch (IOException e) {
      return unsupported(dir, "the filesystem keeps no project IDs: " + e.getMessage());
    }
    try {
      if (posix.lstatIfExists(deviceNode).isPresent()) {
        posix.unlink(deviceNode);
      }
      posix.mknod(deviceNode, FileStat.S_IFBLK | 0600, major, minor);
    } catch (IOException e) {
      return unsupported(dir, "cannot make a device node for quotactl: " + e.getMessage());
    }
    ProjectQuota quota = new ProjectQuota(deviceNode, base);
    Path probe = null;
    try {
      probe = Files.createTempDirectory(dir, "quota-probe-");
      try {
        quota.assign(probe, base);
      } catch (IOException e) {
        return unsupported(dir, "cannot set a project ID: " + e.getMessage());
      }
      Path child = Files.createDirectory(probe.resolve("child"));
      if (quota.projectIdOf(child) != base) {
        return unsupported(dir, "a directory made in one with project ID " + base + " did not take it");
      }
      DiskQuota usage;
      try {
        usage = quota.usage(base);
      } catch (IOException e) {
        return unsupported(dir, "project quota accounting is off (" + e.getMessage() + ")");
      }
      if (usage.inodes() < 2) {
        return unsupported(dir, "quotactl counts " + usage.inodes() + " inodes for project " + base
            + ", which holds at least 2");
      }
      return new Probe(Optional.of(quota), "project quotas on " + dir + " (device " + major + ":" + minor
          + "), project IDs " + base + " + snapshot id");
    } catch (IOException e) {
      return unsupported(dir, e.getMessage());
    } finally {
      if (probe != null) {
        try {
          RemoveAll.remove(probe);
        } catch (IOException ignored) {
          // a probe directory left behind is removed by the snapshotter's cleanup
        }
      }
    }
  }

  private static Probe unsupported(Path dir, String why) {
    return new Probe(Optional.empty(), "no project quotas on " + dir + ": " + why);
  }

  /** The base of the IDs: {@code projectId(n)} is {@code base + n}. */
  public long base() {
    return base;
  }

  /** The project ID for number {@code n} (a snapshot id), or empty past the 32-bit range. */
  public Optional<Long> projectId(long n) {
    if (n < 0 || n > MAX_ID - base) {
      return Optional.empty();
    }
    return Optional.of(base + n);
  }

  /**
   * Gives {@code dir} project ID {@code id} with {@code FS_XFLAG_PROJINHERIT}: everything created
   * under it from now on is charged to {@code id}. Call it on an empty directory; what is already
   * inside keeps its own ID.
   */
  public void assign(Path dir, long id) throws IOException {
    posix.fsSetXattr(dir, posix.fsGetXattr(dir).withInheritedProject(id));
  }

  /**
   * The project ID new entries of {@code dir} are charged to: its own when it has
   * {@code FS_XFLAG_PROJINHERIT}, else -1 (entries made in it get ID 0, not its own).
   */
  public long projectIdOf(Path dir) throws IOException {
    FsXattr x = posix.fsGetXattr(dir);
    return x.inheritsProject() ? x.projectId() : -1;
  }

  /** What is charged to project {@code id} now. */
  public DiskQuota usage(long id) throws IOException {
    return posix.projectQuota(device, id);
  }

  @Override
  public String toString() {
    return "ProjectQuota[device=" + device + ", base=" + base + "]";
  }
}
