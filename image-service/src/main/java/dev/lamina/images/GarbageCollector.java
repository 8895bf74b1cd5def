package dev.lamina.images;

import dev.lamina.content.Info;
import dev.lamina.digest.Digest;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.oci.Descriptor;
import dev.lamina.oci.Index;
import dev.lamina.oci.Limits;
import dev.lamina.oci.Manifest;
import dev.lamina.oci.ManifestDocument;
import dev.lamina.oci.Manifests;
import dev.lamina.snapshots.Kind;
import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.Usage;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Mark and sweep over content and snapshots, as containerd's garbage collector does it.
 *
 * <p>Roots: every image record, reaching its target (index or manifest), the platform manifest,
 * its config and layers, and the committed snapshots named by its chain IDs; every active or view
 * snapshot, reaching its parent chain; everything a pull in flight holds ({@link Leases}); pinned
 * images are image records like any other. Swept: blobs and committed snapshots that carry the
 * image manager's owner label and nothing reaches. Content and snapshots others made (the Diff and
 * Snapshots services) are never collected. Snapshots go children first.
 *
 * <p>When an image's manifest or config cannot be read, its chain IDs are unknown, and no
 * snapshot is collected in that round (content still is).
 */
final class GarbageCollector {
  private static final Logger LOG = LoggerFactory.getLogger(LocalImageManager.class);

  /** What a collection removed. */
  record Collected(int blobs, long blobBytes, int snapshots, long snapshotBytes) {}

  interface InfoLoader {
    Optional<ImageInfo> load(Digest manifest) throws IOException;
  }

  private final ImageDb db;
  private final ContentBlobs blobs;
  private final Snapshotter snapshotter;
  private final Leases leases;
  private final UsageCounters usage;
  private final InfoLoader infos;
  private final Consumer<Digest> forget;

  GarbageCollector(ImageDb db, ContentBlobs blobs, Snapshotter snapshotter, Leases leases, UsageCounters usage,
      InfoLoader infos, Consumer<Digest> forget) {
    this.db = db;
    this.blobs = blobs;
    this.snapshotter = snapshotter;
    this.leases = leases;
    this.usage = usage;
    this.infos = infos;
    this.forget = forget;
  }

  /** One collection at a time. */
  synchronized Collected collect() throws IOException {
    long start = System.nanoTime();
    leases.beginCollection();
    try {
      Set<Digest> liveContent = new HashSet<>();
      Set<String> liveSnapshots = new HashSet<>();
      boolean chainsKnown = markImages(liveContent, liveSnapshots);

      int removedSnapshots = 0;
      long snapshotBytes = 0;
      if (chainsKnown) {
        Map<String, dev.lamina.snapshots.Info> all = new HashMap<>();
        snapshotter.walk(i -> all.put(i.name(), i), List.of());
        for (dev.lamina.snapshots.Info i : all.values()) {
          if (i.kind() != Kind.COMMITTED) {
            liveSnapshots.add(i.name());
          }
        }
        // what stays keeps its parents
        Deque<String> todo = new ArrayDeque<>(liveSnapshots);
        while (!todo.isEmpty()) {
          dev.lamina.snapshots.Info i = all.get(todo.pop());
          if (i != null && !i.parent().isEmpty() && liveSnapshots.add(i.parent())) {
            todo.push(i.parent());
          }
        }
        List<String> dead = new ArrayList<>();
        for (dev.lamina.snapshots.Info i : all.values()) {
          if (i.kind() == Kind.COMMITTED && !liveSnapshots.contains(i.name()) && owned(i.labels())) {
            dead.add(i.name());
          }
        }
        Map<String, Integer> depth = new HashMap<>();
        dead.sort(Comparator.comparingInt((String s) -> depth(s, all, depth)).reversed());
        for (String name : dead) {
          String thing = Leases.snapshot(name);
          if (!leases.tryClaim(thing)) {
            continue;
          }
          try {
            Usage u = snapshotter.usage(name);
            snapshotter.remove(name);
            usage.subtract(u.size(), u.inodes());
            removedSnapshots++;
            snapshotBytes += u.size();
          } catch (LaminaException e) {
            if (e.kind() != ErrorKind.NOT_FOUND && e.kind() != ErrorKind.FAILED_PRECONDITION) {
              throw e;
            }
            // gone already, or a child appeared (someone else's): it stays
          } finally {
            leases.release(thing);
          }
        }
      }

      List<Info> deadBlobs = new ArrayList<>();
      blobs.store().walk(i -> {
        if (!liveContent.contains(i.digest()) && owned(i.labels())) {
          deadBlobs.add(i);
        }
      }, List.of());
      int removedBlobs = 0;
      long blobBytes = 0;
      for (Info i : deadBlobs) {
        String thing = Leases.content(i.digest());
        if (!leases.tryClaim(thing)) {
          continue;
        }
        try {
          long allocated = blobs.allocated(i.digest(), i.size());
          blobs.store().delete(i.digest());
          usage.subtract(allocated, 1);
          forget.accept(i.digest());
          removedBlobs++;
          blobBytes += allocated;
        } catch (LaminaException e) {
          if (e.kind() != ErrorKind.NOT_FOUND) {
            throw e;
          }
        } finally {
          leases.release(thing);
        }
      }
      Collected c = new Collected(removedBlobs, blobBytes, removedSnapshots, snapshotBytes);
      if (removedBlobs + removedSnapshots > 0) {
        LOG.info("garbage collection removed {} blobs ({} bytes) and {} snapshots ({} bytes) in {} ms", removedBlobs,
            blobBytes, removedSnapshots, snapshotBytes, (System.nanoTime() - start) / 1_000_000);
      }
      return c;
    } finally {
      leases.endCollection();
    }
  }

  /** Marks what the image records reach; false when some image's chain IDs could not be read. */
  private boolean markImages(Set<Digest> content, Set<String> snapshots) throws IOException {
    boolean complete = true;
    Set<Digest> targets = new HashSet<>();
    Set<Digest> manifests = new HashSet<>();
    for (ImageDb.Row r : db.all()) {
      if (targets.add(r.target()) && !r.target().equals(r.manifest())) {
        markIndex(Descriptor.of(r.targetMediaType(), r.target(), r.targetSize()), content, 0);
      }
      content.add(r.target());
      manifests.add(r.manifest());
      content.add(r.config());
    }
    for (Digest m : manifests) {
      content.add(m);
      Optional<ImageInfo> info;
      try {
        info = infos.load(m);
      } catch (IOException e) {
        LOG.warn("garbage collection: cannot read image manifest {}: {}", m, e.getMessage());
        info = Optional.empty();
      }
      if (info.isEmpty()) {
        complete = false;
        continue;
      }
      content.add(info.get().manifest().config().digest());
      for (Descriptor layer : info.get().manifest().layers()) {
        content.add(layer.digest());
      }
      for (Digest chainId : info.get().chainIds()) {
        snapshots.add(chainId.toString());
      }
    }
    if (!complete) {
      LOG.warn("garbage collection: some images could not be read; no snapshot is collected this time");
    }
    return complete;
  }

  /** Marks an index's entries, and what nested indexes and manifests held locally reach. */
  private void markIndex(Descriptor index, Set<Digest> content, int depth) throws IOException {
    if (depth > Limits.MAX_INDEX_DEPTH) {
      return;
    }
    Optional<byte[]> bytes = blobs.readIfPresent(index.digest(), Limits.MAX_MANIFEST_BYTES);
    if (bytes.isEmpty()) {
      return;
    }
    ManifestDocument doc;
    try {
      doc = Manifests.parse(index, bytes.get());
    } catch (LaminaException e) {
      return;
    }
    if (doc instanceof Index i) {
      for (Descriptor d : i.manifests()) {
        if (content.add(d.digest())) {
          markIndex(d, content, depth + 1);
        }
      }
    } else if (doc instanceof Manifest m) {
      content.add(m.config().digest());
      for (Descriptor layer : m.layers()) {
        content.add(layer.digest());
      }
    }
  }

  private static boolean owned(Map<String, String> labels) {
    return ContentBlobs.OWNER.equals(labels.get(ContentBlobs.OWNER_LABEL));
  }

  private static int depth(String name, Map<String, dev.lamina.snapshots.Info> all, Map<String, Integer> memo) {
    Integer known = memo.get(name);
    if (known != null) {
      return known;
    }
    // iteratively: chains can be long
    List<String> path = new ArrayList<>();
    String current = name;
    int base = 0;
    while (current != null && !current.isEmpty()) {
      Integer m = memo.get(current);
      if (m != null) {
        base = m;
        break;
      }
      path.add(current);
      dev.lamina.snapshots.Info i = all.get(current);
      current = i == null ? null : i.parent();
      if (path.size() > all.size()) {
        break; // a cycle cannot happen; do not loop if it does
      }
    }
    for (int k = path.size() - 1; k >= 0; k--) {
      base++;
      memo.put(path.get(k), base);
    }
    return memo.get(name);
  }
}
