package dev.lamina.snapshots;

/**
 * Disk usage of one snapshot's own layer (not its parents).
 *
 * @param inodes number of inodes, hard links counted once
 * @param size allocated bytes, hard links counted once: what {@code du -s --block-size=1} prints
 */
public record Usage(long inodes, long size) {
  public static final Usage ZERO = new Usage(0, 0);

  public Usage add(Usage other) {
    return new Usage(inodes + other.inodes, size + other.size);
  }
}
