package dev.lamina.images;

import dev.lamina.digest.Digest;
import dev.lamina.oci.Descriptor;
import java.util.List;

/** Progress of one pull, for terminals and logs. Called from pull threads; must be cheap. */
public interface PullListener {
  PullListener NONE = new PullListener() {};

  /**
   * The reference resolved to a manifest with these {@code layers} (base first), of which the
   * first {@code committed} are already unpacked here and will not be fetched.
   */
  default void resolved(String reference, Digest manifest, List<Descriptor> layers, int committed) {}

  /** {@code done} of {@code total} compressed bytes of one layer have arrived and been applied. */
  default void layerProgress(Digest layer, long done, long total) {}

  /** The layer is unpacked and committed (or was already there, with {@code reused}). */
  default void layerDone(Digest layer, boolean reused) {}

  /** The layer's snapshot was already committed: its {@code size} compressed bytes are not downloaded. */
  default void layerSkipped(Digest layer, long size) {}
}
