package dev.lamina.posix;

/**
 * A file's {@code struct fsxattr} ({@code FS_IOC_FSGETXATTR}, linux/fs.h): its extended inode
 * flags and its project ID, which ext4 and xfs keep for project quotas.
 *
 * @param xflags {@code fsx_xflags}, {@code FS_XFLAG_*}
 * @param extsize {@code fsx_extsize}
 * @param nextents {@code fsx_nextents} (read only)
 * @param projectId {@code fsx_projid}, unsigned 32 bits
 * @param cowextsize {@code fsx_cowextsize}
 */
public record FsXattr(int xflags, int extsize, int nextents, long projectId, int cowextsize) {
  /** New files and directories take the directory's project ID. */
  public static final int FS_XFLAG_PROJINHERIT = 0x200;

  public FsXattr {
    if (projectId < 0 || projectId > 0xffff_ffffL) {
      throw new IllegalArgumentException("project ID " + projectId + " is not an unsigned 32-bit value");
    }
  }

  public boolean inheritsProject() {
    return (xflags & FS_XFLAG_PROJINHERIT) != 0;
  }

  /** These attributes with {@code FS_XFLAG_PROJINHERIT} cleared, the project ID kept. */
  public FsXattr withoutProjectInheritance() {
    return new FsXattr(xflags & ~FS_XFLAG_PROJINHERIT, extsize, nextents, projectId, cowextsize);
  }

  /** These attributes with another project ID and {@code FS_XFLAG_PROJINHERIT} set. */
  public FsXattr withInheritedProject(long id) {
    return new FsXattr(xflags | FS_XFLAG_PROJINHERIT, extsize, nextents, id, cowextsize);
  }
}
