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

  /** A listener that tells {@code first}, then {@code second}, of every event. */
  static PullListener both(PullListener first, PullListener second) {
    return new PullListener() {
      @Override
      public void resolved(String reference, Digest manifest, List<Descriptor> layers, int committed) {
        first.resolved(reference, manifest, layers, committed);
        second.resolved(reference, manifest, layers, committed);
      }

      @Override
      public void layerProgress(Digest layer, long done, long total) {
        first.layerProgress(layer, done, total);
        second.layerProgress(layer, done, total);
      }

      @Override
      public void layerDone(Digest layer, boolean reused) {
        first.layerDone(layer, reused);
        second.layerDone(layer, reused);
      }

      @Override
      public void layerSkipped(Digest layer, long size) {
        first.layerSkipped(layer, size);
        second.layerSkipped(layer, size);
      }
    };
  }
}
