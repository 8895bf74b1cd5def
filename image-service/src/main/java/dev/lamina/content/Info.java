package dev.lamina.content;

import dev.lamina.digest.Digest;
import java.time.Instant;
import java.util.Map;
import java.util.Objects;

/**
 * What the store knows of one committed blob.
 *
 * @param labels mutable metadata, for example {@link Labels#UNCOMPRESSED}; never null
 */
public record Info(Digest digest, long size, Instant createdAt, Instant updatedAt, Map<String, String> labels) {
  public Info {
    Objects.requireNonNull(digest, "digest");
    labels = labels == null ? Map.of() : Map.copyOf(labels);
  }

  /** An info that only names a blob and its labels, as callers of {@link Manager#update} pass it. */
  public static Info ofLabels(Digest digest, Map<String, String> labels) {
    return new Info(digest, -1, null, null, labels);
  }
}
