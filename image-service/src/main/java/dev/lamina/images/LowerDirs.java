package dev.lamina.images;

import dev.lamina.digest.Digest;
import dev.lamina.mount.Mount;
import dev.lamina.snapshots.Snapshotter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The fs dirs of the layers of one pull, for looking up what lies below a layer. Layers this pull
 * unpacked are known; for the others (committed before), one read-only view of the topmost
 * unknown one is made, its mounts read, and removed again.
 */
final class LowerDirs {
  private final Snapshotter snapshotter;
  private final Extractions extractions;
  private final List<Digest> chain;
  private final Path[] known;
  private final Map<Integer, List<Path>> viewed = new HashMap<>();

  LowerDirs(Snapshotter snapshotter, Extractions extractions, List<Digest> chain) {
    this.snapshotter = snapshotter;
    this.extractions = extractions;
    this.chain = chain;
    this.known = new Path[chain.size()];
  }

  /** Layer {@code index}'s files are in {@code dir} (null: unknown, look them up when needed). */
  void known(int index, Path dir) {
    known[index] = dir;
  }

  /** The dirs of the layers below {@code index}, newest first. */
  List<Path> below(int index) throws IOException {
    List<Path> out = new ArrayList<>();
    for (int k = index - 1; k >= 0; k--) {
      if (known[k] != null) {
        out.add(known[k]);
      } else {
        out.addAll(view(k));
        break;
      }
    }
    return out;
  }

  private List<Path> view(int k) throws IOException {
    List<Path> v = viewed.get(k);
    if (v == null) {
      String key = Extractions.lookupKey(chain.get(k));
      List<Mount> mounts = snapshotter.view(key, chain.get(k).toString(), Extractions.labels(chain.get(k)));
      try {
        v = SnapshotDirs.layers(key, mounts);
      } finally {
        extractions.removeQuietly(key);
      }
      viewed.put(k, v);
    }
    return v;
  }
}
