package dev.lamina.oci;

/**
 * The bounds on the OCI documents lamina reads, from a registry or from its content store, so that
 * a broken or hostile document cannot make it allocate or recurse without end. Each is defined here
 * and only here.
 */
public final class Limits {
  /** The largest manifest or index read into memory: 4 MiB. */
  public static final int MAX_MANIFEST_BYTES = 4 << 20;

  /** The largest image config read into memory: 32 MiB. */
  public static final int MAX_CONFIG_BYTES = 32 << 20;

  /**
   * How deep indexes nest: the top document is at depth 0, an index's entries one deeper, and a
   * document deeper than this is not read (a pull fails, the garbage collector stops there).
   */
  public static final int MAX_INDEX_DEPTH = 4;

  /** At most this many layers in a manifest, entries in an index, diff IDs in a config. */
  public static final int MAX_ENTRIES = 4096;

  /** How deep JSON may nest in any of these documents. */
  public static final int MAX_JSON_NESTING = 64;

  /** The longest string in any of these documents: 1 MiB. */
  public static final int MAX_JSON_STRING = 1 << 20;

  private Limits() {}
}
