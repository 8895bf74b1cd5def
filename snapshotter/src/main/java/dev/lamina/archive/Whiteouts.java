package dev.lamina.archive;

/** The OCI image-spec whiteout vocabulary and its overlayfs counterparts. */
public final class Whiteouts {
  private Whiteouts() {}

  public static final String PREFIX = ".wh.";
  /** The aufs meta prefix; {@link #OPAQUE} is the only such name with a meaning. */
  public static final String META_PREFIX = ".wh..wh.";
  public static final String OPAQUE = ".wh..wh..opq";
  public static final String OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque";
  /** Prefix of the xattrs overlayfs keeps for itself; a layer must never carry them. */
  public static final String OVERLAY_XATTR_PREFIX = "trusted.overlay.";
}
