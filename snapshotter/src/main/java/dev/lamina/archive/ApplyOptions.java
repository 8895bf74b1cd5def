package dev.lamina.archive;

import dev.lamina.posix.Posix;

/**
 * How a layer is applied.
 *
 * @param whiteouts naive removal, or overlayfs markers for an upper directory
 * @param sameOwner set owners from the tar (root only, as GNU tar's --same-owner)
 * @param allowDevices create char and block devices; when false such an entry is an error
 */
public record ApplyOptions(WhiteoutMode whiteouts, boolean sameOwner, boolean allowDevices) {
  public ApplyOptions {
    if (whiteouts == null) {
      throw new IllegalArgumentException("whiteouts mode is required");
    }
  }

  /** Naive whiteouts; owners kept when running as root; devices allowed. */
  public static ApplyOptions defaults() {
    return new ApplyOptions(WhiteoutMode.NAIVE, Posix.get().isRoot(), true);
  }

  public ApplyOptions withWhiteouts(WhiteoutMode mode) {
    return new ApplyOptions(mode, sameOwner, allowDevices);
  }

  public ApplyOptions withAllowDevices(boolean allow) {
    return new ApplyOptions(whiteouts, sameOwner, allow);
  }
}
