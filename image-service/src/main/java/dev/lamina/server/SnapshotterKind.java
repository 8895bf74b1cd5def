package dev.lamina.server;

import java.util.Locale;

/** Which snapshotter the server runs. */
public enum SnapshotterKind {
  /** overlayfs upper dirs; needs root and a filesystem overlayfs can use as upper. */
  OVERLAY,
  /** Full copies per snapshot (containerd's "native"); works anywhere. */
  COPYING,
  /** overlay when a trial overlay mount under the root works, copying otherwise. */
  AUTO;

  public String id() {
    return name().toLowerCase(Locale.ROOT);
  }

  public static SnapshotterKind parse(String s) {
    for (SnapshotterKind k : values()) {
      if (k.id().equals(s.toLowerCase(Locale.ROOT))) {
        return k;
      }
    }
    if (s.equalsIgnoreCase("native")) {
      return COPYING;
    }
    throw new IllegalArgumentException("unknown snapshotter \"" + s + "\": want overlay, copying or auto");
  }
}
