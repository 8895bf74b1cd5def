package dev.lamina.archive;

import java.util.List;

/**
 * What one tar application did.
 *
 * @param entries tar entries applied, whiteouts included
 * @param contentBytes bytes of regular-file content written
 * @param implicitDirectories directories created only because an entry needed a parent (the tar
 *     has {@code a/b/f} but no {@code a/}), relative to the root; with overlay whiteouts a
 *     snapshotter must copy the lower layers' attributes onto them before commit
 */
public record ApplyStats(long entries, long contentBytes, List<String> implicitDirectories) {
  public ApplyStats {
    implicitDirectories = List.copyOf(implicitDirectories);
  }
}
