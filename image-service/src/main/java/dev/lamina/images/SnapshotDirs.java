package dev.lamina.images;

import dev.lamina.errdefs.LaminaException;
import dev.lamina.mount.Mount;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads directories out of the mounts a snapshotter returns, so layers can be written and looked
 * up without mounting anything: a {@code bind} mount's source, an {@code overlay} mount's {@code
 * upperdir} and {@code lowerdir} (newest first).
 */
final class SnapshotDirs {
  private SnapshotDirs() {}

  /** The directory an active snapshot's changes go to. */
  static Path writable(String key, List<Mount> mounts) throws LaminaException {
    if (mounts.size() == 1) {
      Mount m = mounts.get(0);
      if (m.type().equals("bind") || m.type().equals("rbind")) {
        return Path.of(m.source());
      }
      if (m.type().equals("overlay")) {
        for (String o : m.options()) {
          if (o.startsWith("upperdir=")) {
            return Path.of(o.substring("upperdir=".length()));
          }
        }
      }
    }
    throw LaminaException.failedPrecondition("snapshot " + key + ": cannot tell its writable directory from mounts "
        + mounts);
  }

  /** The layer directories a view shows, newest first. */
  static List<Path> layers(String key, List<Mount> mounts) throws LaminaException {
    if (mounts.size() == 1) {
      Mount m = mounts.get(0);
      if (m.type().equals("bind") || m.type().equals("rbind")) {
        return List.of(Path.of(m.source()));
      }
      if (m.type().equals("overlay")) {
        List<Path> out = new ArrayList<>();
        for (String o : m.options()) {
          if (o.startsWith("upperdir=")) {
            out.add(0, Path.of(o.substring("upperdir=".length())));
          }
        }
        for (String o : m.options()) {
          if (o.startsWith("lowerdir=")) {
            for (String d : o.substring("lowerdir=".length()).split(":")) {
              if (!d.isEmpty()) {
                out.add(Path.of(d));
              }
            }
          }
        }
        if (!out.isEmpty()) {
          return out;
        }
      }
    }
    throw LaminaException.failedPrecondition("snapshot " + key + ": cannot tell its layer directories from mounts "
        + mounts);
  }
}
