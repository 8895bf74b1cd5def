package dev.lamina.diff;

import dev.lamina.archive.Whiteouts;
import dev.lamina.posix.Posix;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;

/** Extended attributes of one path, raw bytes, sorted by name; symlinks are never followed. */
final class Xattrs {
  private Xattrs() {}

  /** Every attribute the path carries, overlayfs' own ({@code trusted.overlay.*}) included. */
  static SortedMap<String, byte[]> readAll(Path path) throws IOException {
    Posix posix = Posix.get();
    SortedMap<String, byte[]> all = new TreeMap<>();
    for (String name : posix.listxattr(path)) {
      Optional<byte[]> value = posix.getxattr(path, name);
      // An attribute removed between list and get is simply not there.
      value.ifPresent(v -> all.put(name, v));
    }
    return all;
  }

  /** The attributes a layer may carry: everything but overlayfs' bookkeeping. */
  static SortedMap<String, byte[]> forLayer(SortedMap<String, byte[]> all) {
    if (all.isEmpty()) {
      return all;
    }
    SortedMap<String, byte[]> kept = new TreeMap<>(all);
    kept.keySet().removeIf(Xattrs::isOverlay);
    return kept;
  }

  static SortedMap<String, byte[]> read(Path path) throws IOException {
    return forLayer(readAll(path));
  }

  static boolean isOverlay(String name) {
    return name.startsWith(Whiteouts.OVERLAY_XATTR_PREFIX);
  }

  static boolean equal(SortedMap<String, byte[]> a, SortedMap<String, byte[]> b) {
    if (a.size() != b.size()) {
      return false;
    }
    for (Map.Entry<String, byte[]> e : a.entrySet()) {
      byte[] other = b.get(e.getKey());
      if (other == null || !Arrays.equals(e.getValue(), other)) {
        return false;
      }
    }
    return true;
  }
}
