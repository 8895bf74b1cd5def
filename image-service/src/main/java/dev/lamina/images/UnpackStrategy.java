package dev.lamina.images;

import dev.lamina.archive.ApplyOptions;
import dev.lamina.archive.WhiteoutMode;
import dev.lamina.snapshots.Capability;
import dev.lamina.snapshots.Snapshotter;

/**
 * How a pull unpacks its layers, chosen from what the snapshotter declares ({@link
 * Capability#REBASE}).
 */
enum UnpackStrategy {
  /**
   * Every missing layer streams at once (bounded per pull and in total) into a snapshot prepared
   * without parent, with overlay whiteouts; they commit in chain order, each rebased onto the
   * chain ID below it, after its implicit directories took the attributes the parent chain has.
   */
  SIDE_BY_SIDE(WhiteoutMode.OVERLAY),
  /**
   * A layer is applied (naive whiteouts) into a snapshot of its committed parent, which exists only
   * once the parent is committed: layers unpack one after another, each still streaming from the
   * registry straight into the tree.
   */
  IN_CHAIN_ORDER(WhiteoutMode.NAIVE);

  private final ApplyOptions applyOptions;

  UnpackStrategy(WhiteoutMode whiteouts) {
    this.applyOptions = ApplyOptions.defaults().withWhiteouts(whiteouts);
  }

  static UnpackStrategy of(Snapshotter snapshotter) {
    return snapshotter.capabilities().contains(Capability.REBASE) ? SIDE_BY_SIDE : IN_CHAIN_ORDER;
  }

  ApplyOptions applyOptions() {
    return applyOptions;
  }

  /** Whether layers start as soon as the pull knows them, rather than each after its parent's commit. */
  boolean sideBySide() {
    return this == SIDE_BY_SIDE;
  }

  /** The parent to prepare a layer's snapshot on. */
  String preparedParent(LayerJob job) {
    return sideBySide() ? "" : job.parent;
  }

  /** Whether the directories a layer creates implicitly must take the attributes of those below. */
  boolean fixesImplicitDirectories() {
    return sideBySide();
  }
}
