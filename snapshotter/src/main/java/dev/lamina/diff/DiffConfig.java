package dev.lamina.diff;

import java.time.Instant;
import java.util.Map;

/**
 * Options of one diff.
 *
 * @param mediaType the media type of the blob to write; empty for the default (gzip OCI layer)
 * @param ref the content store ref to write under; empty for a new unique one
 * @param labels labels the blob gets, besides {@code containerd.io/uncompressed}
 * @param sourceDateEpoch clamp timestamps to this instant, or null
 */
public record DiffConfig(String mediaType, String ref, Map<String, String> labels, Instant sourceDateEpoch) {
  public DiffConfig {
    mediaType = mediaType == null ? "" : mediaType;
    ref = ref == null ? "" : ref;
    labels = labels == null ? Map.of() : Map.copyOf(labels);
  }

  public static DiffConfig defaults() {
    return new DiffConfig("", "", Map.of(), null);
  }
}
