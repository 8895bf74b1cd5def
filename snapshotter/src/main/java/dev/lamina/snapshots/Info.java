package dev.lamina.snapshots;

import java.time.Instant;
import java.util.Map;

/**
 * What is known of one snapshot.
 *
 * @param name the key of an active or view snapshot, or the name of a committed one
 * @param parent name of the committed parent, empty for none
 */
public record Info(Kind kind, String name, String parent, Map<String, String> labels, Instant created, Instant updated) {
  public Info {
    parent = parent == null ? "" : parent;
    labels = labels == null ? Map.of() : Map.copyOf(labels);
  }
}
