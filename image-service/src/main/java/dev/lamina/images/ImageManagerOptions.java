package dev.lamina.images;

import dev.lamina.oci.Platform;
import dev.lamina.processor.StreamProcessors;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Set;

/**
 * How a {@link LocalImageManager} works.
 *
 * @param root the image filesystem: reported as {@link FilesystemUsage#mountpoint()}
 * @param database the SQLite file holding image records; by default {@code <root>/metadata.db},
 *     shared with the snapshotter (the table is {@code images})
 * @param layersPerPull layers one pull downloads and unpacks at the same time
 * @param layersInTotal layers all pulls together download and unpack at the same time
 * @param dropCompressedLayers do not keep a layer's compressed blob in the content store once its
 *     unpack is verified (for nodes short of disk): the blob is then hashed while it streams and
 *     never written, so a download cut off beyond the registry client's resumes starts over
 * @param pinnedReferences references named in configuration (the pause image): their images are
 *     reported {@link ImageRecord#pinned()}
 * @param platform the platform an index is narrowed to
 * @param processors how layer blobs become tar streams (built-in decompression, configured programs)
 */
public record ImageManagerOptions(
    Path root,
    Path database,
    int layersPerPull,
    int layersInTotal,
    boolean dropCompressedLayers,
    Set<String> pinnedReferences,
    Platform platform,
    StreamProcessors processors) {
  public static final int DEFAULT_LAYERS_PER_PULL = 3;
  public static final int DEFAULT_LAYERS_IN_TOTAL = 6;

  public ImageManagerOptions {
    Objects.requireNonNull(root, "root");
    root = root.toAbsolutePath().normalize();
    database = database == null ? root.resolve("metadata.db") : database.toAbsolutePath().normalize();
    if (layersPerPull < 1 || layersInTotal < 1) {
      throw new IllegalArgumentException("layer concurrency must be at least 1");
    }
    pinnedReferences = pinnedReferences == null ? Set.of() : Set.copyOf(pinnedReferences);
    platform = platform == null ? Platform.current() : platform;
    processors = processors == null ? StreamProcessors.builtIn() : processors;
  }

  /** 3 layers per pull, 6 in total, compressed blobs kept, nothing pinned, this node's platform. */
  public static ImageManagerOptions defaults(Path root) {
    return new ImageManagerOptions(root, null, DEFAULT_LAYERS_PER_PULL, DEFAULT_LAYERS_IN_TOTAL, false, Set.of(),
        null, null);
  }

  public ImageManagerOptions withDatabase(Path file) {
    return new ImageManagerOptions(root, file, layersPerPull, layersInTotal, dropCompressedLayers, pinnedReferences,
        platform, processors);
  }

  public ImageManagerOptions withConcurrency(int perPull, int inTotal) {
    return new ImageManagerOptions(root, database, perPull, inTotal, dropCompressedLayers, pinnedReferences,
        platform, processors);
  }

  public ImageManagerOptions withDropCompressedLayers(boolean drop) {
    return new ImageManagerOptions(root, database, layersPerPull, layersInTotal, drop, pinnedReferences, platform,
        processors);
  }

  public ImageManagerOptions withPinnedReferences(Set<String> references) {
    return new ImageManagerOptions(root, database, layersPerPull, layersInTotal, dropCompressedLayers, references,
        platform, processors);
  }

  public ImageManagerOptions withPlatform(Platform p) {
    return new ImageManagerOptions(root, database, layersPerPull, layersInTotal, dropCompressedLayers,
        pinnedReferences, p, processors);
  }

  public ImageManagerOptions withProcessors(StreamProcessors p) {
    return new ImageManagerOptions(root, database, layersPerPull, layersInTotal, dropCompressedLayers,
        pinnedReferences, platform, p);
  }
}
