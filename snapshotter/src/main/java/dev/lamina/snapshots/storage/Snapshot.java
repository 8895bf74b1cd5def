package dev.lamina.snapshots.storage;

import dev.lamina.snapshots.Kind;
import java.util.List;

/**
 * An active or view snapshot as a driver needs it to build mounts (containerd's
 * {@code storage.Snapshot}).
 *
 * @param id the numeric id that names the snapshot's directory; never reused
 * @param parentIds ids of the committed parent chain, the immediate parent first
 */
public record Snapshot(long id, Kind kind, List<Long> parentIds) {
  public Snapshot {
    parentIds = List.copyOf(parentIds);
  }
}
