package dev.lamina.snapshots;

/** The three states of a snapshot, with containerd's names. */
public enum Kind {
  /** Read-only, made by {@code view}; cannot be committed. */
  VIEW,
  /** Writable, made by {@code prepare}; becomes committed by {@code commit}. */
  ACTIVE,
  /** Immutable; may be the parent of other snapshots. */
  COMMITTED
}
