package dev.lamina.images;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.snapshots.Kind;
import dev.lamina.snapshots.Snapshotter;
import java.io.IOException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The active snapshots a pull makes for itself (extraction keys, lookup views): how they are
 * named and labelled, and their removal, also of those a process that died while pulling left.
 */
final class Extractions {
  private static final Logger LOG = LoggerFactory.getLogger(LocalImageManager.class);
  private static final SecureRandom RANDOM = new SecureRandom();
  /** On active snapshots the image manager prepares: extraction keys and lookup views. */
  static final String EXTRACT_LABEL = "lamina.dev/extract";

  private final Snapshotter snapshotter;

  Extractions(Snapshotter snapshotter) {
    this.snapshotter = snapshotter;
  }

  /** A new key for unpacking the layer whose chain ID is {@code chainId}. */
  static String extractKey(Object chainId) {
    return "extract-" + random() + "-" + chainId;
  }

  /** A new key for a view of {@code chainId} made to look at its files. */
  static String lookupKey(Object chainId) {
    return "lookup-" + random() + "-" + chainId;
  }

  static Map<String, String> labels(Object chainId) {
    return Map.of(ContentBlobs.OWNER_LABEL, ContentBlobs.OWNER, EXTRACT_LABEL, chainId.toString());
  }

  /** Whether {@code name} is a committed snapshot. */
  boolean isCommitted(String name) throws IOException {
    try {
      return snapshotter.stat(name).kind() == Kind.COMMITTED;
    } catch (LaminaException e) {
      if (e.kind() == ErrorKind.NOT_FOUND) {
        return false;
      }
      throw e;
    }
  }

  void removeQuietly(String key) {
    try {
      snapshotter.remove(key);
    } catch (IOException e) {
      if (!(e instanceof LaminaException le && le.kind() == ErrorKind.NOT_FOUND)) {
        LOG.warn("could not remove snapshot {}: {}", key, e.getMessage());
      }
    }
  }

  /** Removes active snapshots a process that died while pulling left behind. */
  void removeStale() throws IOException {
    List<String> stale = new ArrayList<>();
    snapshotter.walk(i -> {
      if (i.kind() != Kind.COMMITTED && i.labels().containsKey(EXTRACT_LABEL)
          && ContentBlobs.OWNER.equals(i.labels().get(ContentBlobs.OWNER_LABEL))) {
        stale.add(i.name());
      }
    }, List.of());
    for (String key : stale) {
      LOG.info("removing snapshot {} left by an interrupted pull", key);
      removeQuietly(key);
    }
  }

  private static String random() {
    byte[] b = new byte[8];
    RANDOM.nextBytes(b);
    return HexFormat.of().formatHex(b);
  }
}
