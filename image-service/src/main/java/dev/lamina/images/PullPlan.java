package dev.lamina.images;

import dev.lamina.digest.Digest;
import dev.lamina.oci.Descriptor;
import java.util.List;

/**
 * What a pull will do: the image its reference resolved to (narrowed to this platform), and how
 * many of its layers, from the base up, are committed already; the others are fetched.
 *
 * @param target what the reference named (an index or a manifest)
 */
record PullPlan(Descriptor target, ImageInfo info, int committed) {
  List<Descriptor> layers() {
    return info.manifest().layers();
  }

  List<Digest> chainIds() {
    return info.chainIds();
  }

  List<Digest> diffIds() {
    return info.config().rootfs().diffIds();
  }
}
