package dev.lamina.content;

import dev.lamina.digest.Digest;
import java.util.Map;
import java.util.Objects;

/**
 * Points at content: an OCI descriptor ({@code application/vnd.oci.descriptor.v1+json} without
 * urls and platform).
 *
 * @param mediaType what the bytes are; empty when unknown
 * @param digest the digest of the bytes
 * @param size the number of bytes, or -1 when unknown
 * @param annotations free-form metadata; never null
 */
public record Descriptor(String mediaType, Digest digest, long size, Map<String, String> annotations) {
  public Descriptor {
    mediaType = mediaType == null ? "" : mediaType;
    Objects.requireNonNull(digest, "digest");
    if (size < -1) {
      throw new IllegalArgumentException("descriptor size " + size + " is negative");
    }
    annotations = annotations == null ? Map.of() : Map.copyOf(annotations);
  }

  public static Descriptor of(String mediaType, Digest digest, long size) {
    return new Descriptor(mediaType, digest, size, Map.of());
  }
}
