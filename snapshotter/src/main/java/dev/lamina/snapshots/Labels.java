package dev.lamina.snapshots;

/** Well-known snapshot labels (containerd's names, so that containerd and lamina agree on them). */
public final class Labels {
  private Labels() {}

  /**
   * The name a snapshot has, or will have once committed, in containerd's metadata: its chain ID.
   * containerd sets it on a Prepare whose result it would commit under that name (its unpacker,
   * and lamina's registration); a committed snapshot carrying it with the same parent is already
   * the answer (containerd docs/remote-snapshotter.md).
   */
  public static final String TARGET = "containerd.io/snapshot.ref";
}
