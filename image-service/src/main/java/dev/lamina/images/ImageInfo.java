package dev.lamina.images;

import dev.lamina.digest.Digest;
import dev.lamina.oci.ImageConfig;
import dev.lamina.oci.Manifest;
import java.util.List;

/**
 * What an image's manifest and config say, parsed once and cached by manifest digest (content
 * never changes under its digest).
 *
 * @param chainIds the chain IDs of the layers, base first
 * @param packedSize bytes of the manifest, the config and the compressed layers: what containerd
 *     reports as an image's size, without the index
 */
record ImageInfo(Manifest manifest, ImageConfig config, List<Digest> chainIds, long packedSize) {
  ImageInfo {
    chainIds = List.copyOf(chainIds);
  }

  static ImageInfo of(Manifest manifest, ImageConfig config) {
    long size = manifest.descriptor().size() + manifest.config().size();
    for (var layer : manifest.layers()) {
      size += layer.size();
    }
    return new ImageInfo(manifest, config, ChainIds.of(config.rootfs().diffIds()), size);
  }
}
