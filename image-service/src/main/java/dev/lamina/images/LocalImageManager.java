package dev.lamina.images;

import dev.lamina.content.Store;
import dev.lamina.digest.Digest;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.oci.Descriptor;
import dev.lamina.oci.ImageConfig;
import dev.lamina.oci.ImageRef;
import dev.lamina.oci.Limits;
import dev.lamina.oci.Manifest;
import dev.lamina.oci.ManifestDocument;
import dev.lamina.oci.Manifests;
import dev.lamina.remotes.RegistryClient;
import dev.lamina.remotes.auth.Credentials;
import dev.lamina.snapshots.Kind;
import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.Usage;
import java.io.Closeable;
import java.io.IOException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The image manager on this node: image records in SQLite, blobs in the content store, unpacked
 * layers in the snapshotter (see {@link Puller} for the pull pipeline, {@link GarbageCollector}
 * for what {@link #remove} collects).
 *
 * <p>Names: pulling {@code repo:tag} records two names, the tag and {@code repo@<digest>} of what
 * the tag resolved to (an index for a multi-platform image); pulling {@code repo@digest} records
 * that one. All names of one config digest are one image, whose ID is that digest: tags become
 * {@link ImageRecord#repoTags()}, digest names {@link ImageRecord#repoDigests()}. A tag that moves
 * to another image leaves the old image with its digest name, as containerd does.
 *
 * <p>Pulls of one reference share one pull (and the first caller's credentials); pulls of
 * different references share layers being unpacked. Leases kept in memory protect what pulls in
 * flight use from {@link #remove}'s collection. The parallel, rebasing unpack is used with a
 * snapshotter that declares {@link dev.lamina.snapshots.Capability#REBASE} (overlay); any other
 * gets layers prepared on their parent and applied one after another with naive whiteouts
 * ({@link UnpackStrategy}).
 *
 * <p>Thread-safe. The content store, snapshotter and registry client belong to the caller, who
 * closes them after this.
 */
public final class LocalImageManager implements ImageManager, Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(LocalImageManager.class);
  private static final Pattern FULL_ID = Pattern.compile("(?:sha256:)?([a-f0-9]{64})");
  /** Short IDs as docker prints them (12 hex digits) or longer; shorter ones are too easy to hit. */
  private static final Pattern SHORT_ID = Pattern.compile("(?:sha256:)?([a-f0-9]{12,63})");

  private final ImageManagerOptions options;
  private final RegistryClient registry;
  private final ImageDb db;
  private final ContentBlobs blobs;
  private final UsageCounters usage = new UsageCounters();
  private final Leases leases = new Leases();
  private final Puller puller;
  private final GarbageCollector gc;
  private final Set<String> pinned;
  private final ConcurrentHashMap<Digest, ImageInfo> infos = new ConcurrentHashMap<>();
  private final ConcurrentHashMap<String, PullInFlight> inflight = new ConcurrentHashMap<>();

  private LocalImageManager(ImageManagerOptions options, Store content, Snapshotter snapshotter,
      RegistryClient registry, ImageDb db) throws LaminaException {
    this.options = options;
    this.registry = registry;
    this.db = db;
    this.blobs = new ContentBlobs(content, usage);
    this.puller = new Puller(blobs, snapshotter, options, leases, usage);
    this.gc = new GarbageCollector(db, blobs, snapshotter, leases, usage, this::loadInfo, infos::remove);
    Set<String> p = new HashSet<>();
    for (String ref : options.pinnedReferences()) {
      p.add(ImageRef.parse(ref).toString());
    }
    this.pinned = Set.copyOf(p);
  }

  /**
   * Opens the image records at {@code options.database()}, counts the usage of the content store
   * and the committed snapshots, and removes the snapshots that pulls of an earlier process left
   * active. What such a pull did commit (layers, blobs) stays for a retry to reuse, until a
   * collection finds no image that needs it.
   */
  public static LocalImageManager open(ImageManagerOptions options, Store content, Snapshotter snapshotter,
      RegistryClient registry) throws IOException {
    ImageDb db = ImageDb.open(options.database());
    LocalImageManager m = null;
    try {
      m = new LocalImageManager(options, content, snapshotter, registry, db);
      m.countUsage(snapshotter);
      m.puller.removeStaleExtractions();
      return m;
    } catch (IOException | RuntimeException e) {
      if (m != null) {
        m.close();
      } else {
        db.close();
      }
      throw e;
    }
  }

  private void countUsage(Snapshotter snapshotter) throws IOException {
    blobs.store().walk(i -> usage.add(blobs.allocated(i.digest(), i.size()), 1), List.of());
    List<String> committed = new ArrayList<>();
    snapshotter.walk(i -> {
      if (i.kind() == Kind.COMMITTED) {
        committed.add(i.name());
      }
    }, List.of());
    for (String name : committed) {
      try {
        Usage u = snapshotter.usage(name);
        usage.add(u.size(), u.inodes());
      } catch (LaminaException e) {
        if (e.kind() != ErrorKind.NOT_FOUND) {
          throw e;
        }
      }
    }
  }

  public ImageManagerOptions options() {
    return options;
  }

  // ---------------------------------------------------------------------------------------------
  // pull

  @Override
  public ImageRecord pull(String reference, Credentials credentials, PullListener listener) throws IOException {
    ImageRef ref = ImageRef.parse(reference);
    String key = ref.toString();
    PullInFlight mine = new PullInFlight();
    mine.listeners.add(listener == null ? PullListener.NONE : listener);
    PullInFlight running = inflight.putIfAbsent(key, mine);
    if (running != null) {
      if (listener != null) {
        running.listen(listener);
      }
      LOG.debug("pull {}: joining the pull in flight", key);
      return running.await(key);
    }
    try {
      ImageRecord r = pull(ref, credentials, mine.fanOut);
      mine.result.complete(r);
      return r;
    } catch (Throwable t) {
      mine.result.completeExceptionally(t);
      throw t;
    } finally {
      inflight.remove(key, mine);
    }
  }



  private ImageRecord pull(ImageRef ref, Credentials credentials, PullListener listener) throws IOException {
    long start = System.nanoTime();
    RegistryClient client = registry.withCredentials(credentials);
    Puller.Result r = puller.pull(ref, client, listener, (target, info) -> record(ref, target, info));
    Digest id = r.info().manifest().config().digest();
    ImageRecord record = find(id.toString()).orElseThrow(
        () -> new LaminaException(ErrorKind.INTERNAL, "pull " + ref + ": image " + id + " vanished after its pull"));
    double seconds = (System.nanoTime() - start) / 1e9;
    LOG.info("pulled {} ({}, image {}) in {} s: {} layers fetched ({} bytes, {} MB/s), {} reused, {} shared with"
        + " other pulls", ref, r.info().manifest().descriptor().digest(), id, String.format(Locale.ROOT, "%.2f", seconds),
        r.unpacked(), r.downloaded(), String.format(Locale.ROOT, "%.1f", r.downloaded() / 1e6 / Math.max(seconds, 1e-9)),
        r.reused(), r.joined());
    return record;
  }

  private void record(ImageRef ref, Descriptor target, ImageInfo info) throws IOException {
    Manifest m = info.manifest();
    infos.put(m.descriptor().digest(), info);
    List<String> names = new ArrayList<>();
    names.add(ref.toString());
    if (ref.digest() == null) {
      names.add(ref.name() + "@" + target.digest());
    }
    db.put(names, target.mediaType(), target.digest(), target.size(), m.descriptor().digest(), m.config().digest());
  }

  // ---------------------------------------------------------------------------------------------
  // queries

  @Override
  public List<ImageRecord> list() throws IOException {
    Map<Digest, List<ImageDb.Row>> byId = new LinkedHashMap<>();
    for (ImageDb.Row r : db.all()) {
      byId.computeIfAbsent(r.config(), k -> new ArrayList<>()).add(r);
    }
    List<ImageRecord> out = new ArrayList<>();
    for (Map.Entry<Digest, List<ImageDb.Row>> e : byId.entrySet()) {
      try {
        out.add(toRecord(e.getKey(), e.getValue()));
      } catch (LaminaException ex) {
        LOG.warn("image {} is not listed: {}", e.getKey(), ex.getMessage());
      }
    }
    return out;
  }

  @Override
  public Optional<ImageRecord> find(String idOrReference) throws IOException {
    Optional<Digest> id = resolveId(idOrReference);
    if (id.isEmpty()) {
      return Optional.empty();
    }
    List<ImageDb.Row> rows = db.byImageId(id.get());
    return rows.isEmpty() ? Optional.empty() : Optional.of(toRecord(id.get(), rows));
  }

  /**
   * The image ID {@code s} means, like containerd's CRI: a full ID ({@code sha256:<hex>} or the
   * hex), else a reference (normalized), else a unique ID prefix of at least 12 hex digits.
   */
  private Optional<Digest> resolveId(String s) throws IOException {
    if (s == null || s.isEmpty()) {
      return Optional.empty();
    }
    Matcher full = FULL_ID.matcher(s);
    if (full.matches()) {
      return Optional.of(new Digest("sha256", full.group(1)));
    }
    try {
      Optional<ImageDb.Row> row = db.byName(ImageRef.parse(s).toString());
      if (row.isPresent()) {
        return Optional.of(row.get().config());
      }
    } catch (LaminaException notAReference) {
      // maybe an ID prefix
    }
    Matcher prefix = SHORT_ID.matcher(s);
    if (prefix.matches()) {
      List<Digest> ids = db.imageIdsWithPrefix("sha256:" + prefix.group(1), 2);
      if (ids.size() == 1) {
        return Optional.of(ids.get(0));
      }
    }
    return Optional.empty();
  }

  private ImageRecord toRecord(Digest id, List<ImageDb.Row> rows) throws IOException {
    List<String> tags = new ArrayList<>();
    List<String> digests = new ArrayList<>();
    boolean isPinned = false;
    ImageDb.Row main = null;
    for (ImageDb.Row r : rows) {
      boolean digested = r.name().contains("@");
      (digested ? digests : tags).add(r.name());
      isPinned |= pinned.contains(r.name());
      if (main == null || (!digested && main.name().contains("@"))) {
        main = r;
      }
    }
    Digest manifest = main.manifest();
    ImageInfo info = loadInfo(manifest).orElseThrow(() -> LaminaException.dataLoss("image " + id
        + ": its manifest " + manifest + " or config is missing from the content store"));
    long size = info.packedSize() + (main.target().equals(manifest) ? 0 : main.targetSize());
    tags.sort(null);
    digests.sort(null);
    return new ImageRecord(id, tags, digests, size, info.config(), manifest, info.chainIds(), isPinned);
  }

  /** The parsed manifest and config, from the cache or the content store; empty when missing. */
  private Optional<ImageInfo> loadInfo(Digest manifest) throws IOException {
    ImageInfo cached = infos.get(manifest);
    if (cached != null) {
      return Optional.of(cached);
    }
    Optional<byte[]> bytes = blobs.readIfPresent(manifest, Limits.MAX_MANIFEST_BYTES);
    if (bytes.isEmpty()) {
      return Optional.empty();
    }
    ManifestDocument doc = Manifests.parse(Descriptor.of("", manifest, bytes.get().length), bytes.get());
    if (!(doc instanceof Manifest m)) {
      throw LaminaException.invalidArgument("content " + manifest + " is an index, not an image manifest");
    }
    Optional<byte[]> config = blobs.readIfPresent(m.config().digest(), Limits.MAX_CONFIG_BYTES);
    if (config.isEmpty()) {
      return Optional.empty();
    }
    ImageInfo info = ImageInfo.of(m, ImageConfig.parse(m.config().digest(), config.get()));
    infos.put(manifest, info);
    return Optional.of(info);
  }

  // ---------------------------------------------------------------------------------------------
  // remove, collect, usage

  @Override
  public void remove(String idOrReference) throws IOException {
    Optional<Digest> id = resolveId(idOrReference);
    if (id.isPresent()) {
      List<String> names = db.deleteImage(id.get());
      if (!names.isEmpty()) {
        LOG.info("removed image {} ({})", id.get(), String.join(", ", names));
      }
    }
    collectGarbage();
  }

  /** Deletes the content and committed snapshots that no image, active snapshot or pull needs. */
  @Override
  public void collectGarbage() throws IOException {
    gc.collect();
  }

  @Override
  public FilesystemUsage usage() {
    return new FilesystemUsage(options.root(), usage.bytes(), usage.inodes(), Instant.now());
  }

  /** Stops the layer threads and closes the image records; pulls still running fail. */
  @Override
  public void close() {
    puller.close();
    db.close();
  }
}
