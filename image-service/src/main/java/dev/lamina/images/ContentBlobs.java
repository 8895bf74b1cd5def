package dev.lamina.images;

import dev.lamina.content.Info;
import dev.lamina.content.LocalContentStore;
import dev.lamina.content.Store;
import dev.lamina.content.Writer;
import dev.lamina.digest.Digest;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.posix.FileStat;
import dev.lamina.posix.Posix;
import java.io.IOException;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** What the image manager does with the content store: small blobs whole, labels, sizes. */
final class ContentBlobs {
  /** Marks content and snapshots the image manager made, and so may collect. */
  static final String OWNER_LABEL = "lamina.dev/owner";
  static final String OWNER = "images";
  private static final long BLOCK = 4096;
  private static final SecureRandom RANDOM = new SecureRandom();

  private final Store store;
  private final UsageCounters usage;

  ContentBlobs(Store store, UsageCounters usage) {
    this.store = store;
    this.usage = usage;
  }

  Store store() {
    return store;
  }

  static Map<String, String> ownerLabels() {
    return Map.of(OWNER_LABEL, OWNER);
  }

  /**
   * A committed layer's labels: the owner, and its own name (the chain ID) as the target a
   * containerd Prepare names, so containerd can record the snapshot as its own (registration).
   */
  static Map<String, String> committedLabels(String chainId) {
    return Map.of(OWNER_LABEL, OWNER, dev.lamina.snapshots.Labels.TARGET, chainId);
  }

  /** The whole blob, or empty when the store does not have it. */
  Optional<byte[]> readIfPresent(Digest digest, int maxBytes) throws IOException {
    return store.readIfPresent(digest, maxBytes);
  }

  Optional<Info> info(Digest digest) throws IOException {
    try {
      return Optional.of(store.info(digest));
    } catch (LaminaException e) {
      if (e.kind() == ErrorKind.NOT_FOUND) {
        return Optional.empty();
      }
      throw e;
    }
  }

  /**
   * Stores verified bytes (a manifest, an index, a config) under {@code digest}. A blob already
   * there is left as it is, and gets the owner label when it lacks it.
   */
  void putSmall(String kind, Digest digest, byte[] bytes) throws IOException {
    if (info(digest).isPresent()) {
      adopt(digest);
      return;
    }
    // A ref of its own: a concurrent pull writing the same blob must not find it locked.
    String ref = kind + "-" + digest + "-" + random();
    boolean committed = false;
    try (Writer w = store.writer(ref, bytes.length, digest)) {
      w.write(bytes, 0, bytes.length);
      w.commit(bytes.length, digest, ownerLabels());
      committed = true;
      published(digest, bytes.length);
    } catch (LaminaException e) {
      if (e.kind() != ErrorKind.ALREADY_EXISTS) {
        throw e;
      }
      committed = true;
      adopt(digest);
    } finally {
      if (!committed) {
        abortQuietly(ref);
      }
    }
  }

  /** Gives an existing blob the owner label, so that it is collected once no image needs it. */
  void adopt(Digest digest) throws IOException {
    Optional<Info> info = info(digest);
    if (info.isPresent() && !OWNER.equals(info.get().labels().get(OWNER_LABEL))) {
      store.update(Info.ofLabels(digest, ownerLabels()), List.of("labels." + OWNER_LABEL));
    }
  }

  /** Counts a blob this manager just committed. */
  void published(Digest digest, long size) {
    usage.add(allocated(digest, size), 1);
  }

  /** What a blob takes on disk: its allocated blocks when the store is local, else whole 4 KiB blocks. */
  long allocated(Digest digest, long size) {
    if (store instanceof LocalContentStore local) {
      Path blob = local.root().resolve("blobs").resolve(digest.algorithm()).resolve(digest.hex());
      try {
        Optional<FileStat> st = Posix.get().lstatIfExists(blob);
        if (st.isPresent()) {
          return st.get().allocatedBytes();
        }
      } catch (IOException e) {
        // estimate below
      }
    }
    return (size + BLOCK - 1) / BLOCK * BLOCK;
  }

  void abortQuietly(String ref) {
    try {
      store.abort(ref);
    } catch (IOException e) {
      // NOT_FOUND: nothing was written; anything else leaves an ingest a later pull resumes or aborts
    }
  }

  static Map<String, String> layerLabels(Digest diffId) {
    Map<String, String> l = new HashMap<>(ownerLabels());
    l.put(dev.lamina.content.Labels.UNCOMPRESSED, diffId.toString());
    return l;
  }

  private static String random() {
    byte[] b = new byte[6];
    RANDOM.nextBytes(b);
    return HexFormat.of().formatHex(b);
  }
}
