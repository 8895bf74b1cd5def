package dev.lamina.diff;

import dev.lamina.digest.Digest;
import java.util.Objects;

/**
 * What a {@link Comparer} wrote: the blob as stored and the tar inside it.
 *
 * @param digest digest of the bytes written, after compression: the layer's descriptor digest
 * @param size number of bytes written, after compression
 * @param diffId sha256 of the uncompressed tar, the image config's {@code rootfs.diff_ids} entry
 * @param uncompressedSize size of the uncompressed tar
 * @param mediaType OCI media type of the blob, per its compression
 */
public record DiffResult(Digest digest, long size, Digest diffId, long uncompressedSize, String mediaType) {
  public DiffResult {
    Objects.requireNonNull(digest, "digest");
    Objects.requireNonNull(diffId, "diffId");
    Objects.requireNonNull(mediaType, "mediaType");
    if (size < 0 || uncompressedSize < 0) {
      throw new IllegalArgumentException("negative size");
    }
  }
}
