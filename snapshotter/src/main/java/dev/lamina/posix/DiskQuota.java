package dev.lamina.posix;

/**
 * What {@code quotactl(Q_GETQUOTA)} reports of one quota ID ({@code struct if_dqblk},
 * linux/quota.h): the space and inodes charged to it now.
 *
 * @param spaceBytes {@code dqb_curspace}: allocated bytes, including space reserved for delayed
 *     allocation (the kernel adds it, as {@code st_blocks} does)
 * @param inodes {@code dqb_curinodes}
 */
public record DiskQuota(long spaceBytes, long inodes) {}
