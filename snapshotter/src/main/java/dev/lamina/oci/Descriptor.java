package dev.lamina.oci;

import dev.lamina.digest.Digest;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * An OCI content descriptor as it appears in manifests and indexes.
 *
 * @param mediaType what the bytes are; empty when unknown
 * @param digest the digest of the bytes
 * @param size the number of bytes, never negative
 * @param urls alternative locations (foreign layers); lamina fetches from the registry only
 * @param annotations free-form metadata; never null
 * @param platform the platform of an index entry, or null
 */
public record Descriptor(
    String mediaType,
    Digest digest,
    long size,
    List<String> urls,
    Map<String, String> annotations,
    Platform platform) {
  public Descriptor {
    mediaType = mediaType == null ? "" : mediaType;
    Objects.requireNonNull(digest, "digest");
    if (size < 0) {
      throw new IllegalArgumentException("descriptor size " + size + " is negative");
    }
    urls = urls == null ? List.of() : List.copyOf(urls);
    annotations = annotations == null ? Map.of() : Map.copyOf(annotations);
  }

  public static Descriptor of(String mediaType, Digest digest, long size) {
    return new Descriptor(mediaType, digest, size, List.of(), Map.of(), null);
  }

  public Descriptor withMediaType(String type) {
    return new Descriptor(type, digest, size, urls, annotations, platform);
  }

  @Override
  public String toString() {
    return (mediaType.isEmpty() ? "" : mediaType + " ") + digest + " (" + size + " bytes"
        + (platform == null ? "" : ", " + platform) + ")";
  }
}
