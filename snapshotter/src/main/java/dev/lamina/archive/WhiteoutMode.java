package dev.lamina.archive;

/** How the OCI whiteout markers of a layer turn into changes on disk. */
public enum WhiteoutMode {
  /**
   * Apply onto a merged tree: {@code .wh.NAME} removes NAME, {@code .wh..wh..opq} empties its
   * directory of everything lower layers put there.
   */
  NAIVE,
  /**
   * Write an overlayfs upper directory: {@code .wh.NAME} becomes a char device 0/0 and
   * {@code .wh..wh..opq} the xattr {@code trusted.overlay.opaque=y}.
   */
  OVERLAY
}
