package dev.lamina.images;

import dev.lamina.digest.Digest;
import dev.lamina.oci.ImageConfig;
import java.util.List;

/**
 * One image: its ID is the digest of its config.
 *
 * @param repoTags normalized tag references, e.g. {@code docker.io/library/busybox:1.36}
 * @param repoDigests digest references, e.g. {@code docker.io/library/busybox@sha256:...}
 * @param size bytes of the image as a registry stores it, as containerd's CRI reports it (what
 *     {@code crictl images} shows): the index (when the image was pulled through one), the
 *     platform's manifest, the config and the compressed layers; not the unpacked size
 * @param manifestDigest the platform's image manifest (an index is narrowed to it)
 * @param chainIds chain IDs of the layers, bottom first; the last names the image's top snapshot
 * @param pinned named in configuration (the pause image): never removed by garbage collection
 */
public record ImageRecord(
    Digest id,
    List<String> repoTags,
    List<String> repoDigests,
    long size,
    ImageConfig config,
    Digest manifestDigest,
    List<Digest> chainIds,
    boolean pinned) {
  public ImageRecord {
    repoTags = List.copyOf(repoTags);
    repoDigests = List.copyOf(repoDigests);
    chainIds = List.copyOf(chainIds);
  }
}
