package dev.lamina.services;

import dev.lamina.snapshots.Info;
import java.io.IOException;
import java.util.Optional;

/**
 * Keeps snapshots that lamina itself still needs from a Remove through the Snapshots API.
 * containerd's garbage collector removes every backend snapshot it has no record of, and lamina's
 * image store (its committed layers, its pulls' extraction snapshots) is not all in containerd's
 * records; such a call fails with FAILED_PRECONDITION, which containerd logs and moves past.
 */
@FunctionalInterface
public interface RemovalGuard {
  /** Every snapshot may be removed. */
  RemovalGuard NONE = info -> Optional.empty();

  /** Why {@code snapshot} must stay, or empty when it may be removed. */
  Optional<String> whyKept(Info snapshot) throws IOException;

  /**
   * Called after {@code snapshot} was removed: what it kept alive (its parent chain) may be
   * collectable now.
   */
  default void removed(Info snapshot) {}
}
