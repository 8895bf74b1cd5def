package dev.lamina.images;

import dev.lamina.digest.Digest;

/** Progress of one pull, for terminals and logs. Called from pull threads; must be cheap. */
public interface PullListener {
  PullListener NONE = new PullListener() {};

  /** The reference resolved to a manifest; {@code layers} of the image still need fetching. */
  default void resolved(String reference, Digest manifest, int layers, long bytesToFetch) {}

  /** {@code done} of {@code total} compressed bytes of one layer have arrived and been applied. */
  default void layerProgress(Digest layer, long done, long total) {}

  /** The layer is unpacked and committed (or was already there, with {@code reused}). */
  default void layerDone(Digest layer, boolean reused) {}

  /** The layer's snapshot was already committed: its {@code size} compressed bytes are not downloaded. */
  default void layerSkipped(Digest layer, long size) {}
}
