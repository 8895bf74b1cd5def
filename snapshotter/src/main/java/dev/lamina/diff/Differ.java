package dev.lamina.diff;

import dev.lamina.mount.Mount;
import dev.lamina.oci.Descriptor;
import java.io.IOException;
import java.util.List;

/**
 * Applies layers onto mounts and computes layers between mounts (containerd's
 * {@code diff.Applier} plus {@code diff.Comparer}, the interface of a diff plugin). A differ that
 * cannot handle a request (a media type, a kind of mount) fails with NOT_IMPLEMENTED, and
 * the local diff service (image-service's {@code LocalDiffService}) then asks the next one.
 */
public interface Differ {
  /** The name the differ order in the configuration uses. */
  String name();

  /**
   * Applies the layer blob {@code layer} (read from the content store) onto {@code mounts}.
   *
   * @return the applied layer: plain tar media type, the diff ID as digest, uncompressed size
   */
  Descriptor apply(Descriptor layer, List<Mount> mounts, ApplyConfig config) throws IOException;

  /**
   * Writes the layer that turns {@code lower} into {@code upper} into the content store.
   *
   * @return the descriptor of the new (or already present) blob
   */
  Descriptor compare(List<Mount> lower, List<Mount> upper, DiffConfig config) throws IOException;
}
