package dev.lamina.snapshots;

/** What a snapshotter declares it does well, as containerd's snapshotters declare capabilities. */
public enum Capability {
  /**
   * containerd's {@code rebase}: an active snapshot prepared without a parent is committed onto one
   * without copying either tree. Layers can then unpack side by side, each into a snapshot of its
   * own (with overlay whiteouts), and commit in chain order, as containerd 2's unpacker does. A
   * snapshotter that does not declare it may still accept such a commit at a cost (the copying
   * snapshotter rebuilds the tree).
   */
  REBASE
}
