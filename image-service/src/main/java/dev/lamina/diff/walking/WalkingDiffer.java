package dev.lamina.diff.walking;

import dev.lamina.archive.ApplyOptions;
import dev.lamina.archive.WhiteoutMode;
import dev.lamina.compression.Compression;
import dev.lamina.content.Info;
import dev.lamina.content.Labels;
import dev.lamina.content.ReaderAt;
import dev.lamina.content.Store;
import dev.lamina.content.Writer;
import dev.lamina.diff.AppliedLayer;
import dev.lamina.diff.Applier;
import dev.lamina.diff.ApplyConfig;
import dev.lamina.diff.Comparer;
import dev.lamina.diff.DiffConfig;
import dev.lamina.diff.DiffResult;
import dev.lamina.diff.Differ;
import dev.lamina.diff.LayerBlob;
import dev.lamina.diff.StreamApplier;
import dev.lamina.diff.WalkingComparer;
import dev.lamina.digest.Digest;
import dev.lamina.digest.DigestingInputStream;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.mount.Mount;
import dev.lamina.mount.TempMounts;
import dev.lamina.oci.Descriptor;
import dev.lamina.oci.MediaTypes;
import dev.lamina.posix.Posix;
import dev.lamina.processor.StreamProcessors;
import java.io.BufferedOutputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The differ that works on any mounts (containerd's {@code walking} diff plugin: the
 * file-system applier plus the walking comparer), with the content store as source and sink.
 *
 * <p><b>Apply</b> streams the blob through the stream processors into a tar apply. Where the
 * target is a plain directory it writes there without mounting: one {@code overlay} mount with an
 * {@code upperdir} is applied into the upper dir with overlay whiteouts (0/0 char devices, opaque
 * xattrs), as containerd's overlay fast path does; one writable {@code bind} mount into its
 * source. Anything else is mounted on a temporary directory. The blob is verified against its
 * digest as it is read, and the tar against the {@code containerd.io/uncompressed} label when the
 * store has one.
 *
 * <p><b>Compare</b> mounts both sides read-only (an overlay's upper dir becomes its top lower dir,
 * so an active snapshot's overlay can be read while it is mounted elsewhere), walks them, and
 * writes the layer into the content store, labelled with its diff ID.
 */
public final class WalkingDiffer implements Differ {
  public static final String NAME = "walking";
  private static final Logger LOG = LoggerFactory.getLogger(WalkingDiffer.class);
  private static final int WRITE_BUFFER = 1 << 20;

  private final Store store;
  private final Applier applier;
  private final Comparer comparer;
  private final TempMounter mounter;
  private final ApplyOptions options;
  private final Path scratch;

  /**
   * @param scratch where empty directories for an empty side of a diff are made
   */
  public WalkingDiffer(Store store, StreamProcessors processors, TempMounter mounter, ApplyOptions options,
      Path scratch) {
    this.store = store;
    this.applier = new StreamApplier(processors);
    this.comparer = new WalkingComparer();
    this.mounter = mounter;
    this.options = options;
    this.scratch = scratch;
  }

  @Override
  public String name() {
    return NAME;
  }

  // ---- apply

  @Override
  public Descriptor apply(Descriptor layer, List<Mount> mounts, ApplyConfig config) throws IOException {
    if (mounts.isEmpty()) {
      throw LaminaException.invalidArgument("apply of " + layer.digest() + ": no mounts to apply onto");
    }
    Info info = store.info(layer.digest());
    Digest expectedDiffId = uncompressedLabel(info);
    try (ReaderAt ra = store.readerAt(layer.digest())) {
      if (layer.size() > 0 && layer.size() != ra.size()) { // 0: the caller did not say
        throw LaminaException.failedPrecondition("apply of " + layer.digest() + ": descriptor says " + layer.size()
            + " bytes, the blob has " + ra.size());
      }
      DigestingInputStream hashed = new DigestingInputStream(ra.stream(), layer.digest().algorithm(),
          layer.digest().newMessageDigest(), 0);
      // The applier closes what it reads; the bytes after the layer's end are read and hashed below.
      InputStream blob = new FilterInputStream(hashed) {
        @Override
        public void close() {
          // the reader is closed with ra
        }
      };
      LayerBlob lb = new LayerBlob(layer.mediaType(), blob, expectedDiffId, config.payloads());
      Target direct = directTarget(mounts);
      AppliedLayer applied;
      if (direct != null) {
        applied = applyAt(lb, direct.dir(), options.withWhiteouts(direct.whiteouts()), config.syncFs());
      } else {
        applied = mounter.withTempMount(mounts, root -> applyAt(lb, root, options, config.syncFs()));
      }
      hashed.drain();
      Digest actual = hashed.digest();
      if (!actual.equals(layer.digest())) {
        throw LaminaException.dataLoss("blob " + layer.digest() + " read back from the content store as " + actual);
      }
      LOG.debug("applied {} ({}) onto {}: diff ID {}, {} bytes in {}", layer.digest(), layer.mediaType(),
          direct != null ? direct.dir() : mounts, applied.diffId(), applied.size(), applied.elapsed());
      return Descriptor.of(MediaTypes.OCI_LAYER, applied.diffId(), applied.size());
    }
  }

  private AppliedLayer applyAt(LayerBlob layer, Path dir, ApplyOptions opts, boolean syncFs) throws IOException {
    AppliedLayer applied = applier.apply(layer, dir, opts);
    if (syncFs) {
      Posix.get().syncfs(dir);
    }
    return applied;
  }

  /** Where a layer can be written without mounting anything, or null. */
  record Target(Path dir, WhiteoutMode whiteouts) {}

  static Target directTarget(List<Mount> mounts) throws IOException {
    if (mounts.size() != 1) {
      return null;
    }
    Mount m = mounts.get(0);
    if (!m.target().isEmpty()) {
      return null;
    }
    if (m.type().equals("overlay")) {
      String upper = option(m, "upperdir");
      return upper == null ? null : new Target(directory(upper), WhiteoutMode.OVERLAY);
    }
    if (isBind(m)) {
      if (m.readOnly()) {
        throw LaminaException.failedPrecondition("cannot apply onto read-only bind mount of " + m.source());
      }
      return new Target(directory(m.source()), WhiteoutMode.NAIVE);
    }
    return null;
  }

  private static Path directory(String path) throws LaminaException {
    Path p = Path.of(path);
    if (!p.isAbsolute() || !Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
      throw LaminaException.invalidArgument("mount source " + path + " is not an absolute path to a directory");
    }
    return p;
  }

  private Digest uncompressedLabel(Info info) {
    String label = info.labels().get(Labels.UNCOMPRESSED);
    if (label == null) {
      return null;
    }
    try {
      return Digest.parse(label);
    } catch (LaminaException e) {
      LOG.warn("ignoring bad {} label on {}: {}", Labels.UNCOMPRESSED, info.digest(), e.getMessage());
      return null;
    }
  }

  // ---- compare

  @Override
  public Descriptor compare(List<Mount> lower, List<Mount> upper, DiffConfig config) throws IOException {
    String mediaType = config.mediaType().isEmpty() ? MediaTypes.OCI_LAYER_GZIP : config.mediaType();
    Compression compression = compressionOf(mediaType);
    if (config.sourceDateEpoch() != null) {
      throw LaminaException.notImplemented("the walking differ does not rewrite timestamps (source_date_epoch)");
    }
    if (upper.isEmpty()) {
      throw LaminaException.invalidArgument("diff needs the upper mounts");
    }
    return readOnly(lower, lowerRoot -> readOnly(upper, upperRoot ->
        write(lowerRoot, upperRoot, mediaType, compression, config)));
  }

  static Compression compressionOf(String mediaType) throws LaminaException {
    return switch (mediaType) {
      case MediaTypes.OCI_LAYER, MediaTypes.DOCKER_LAYER -> Compression.NONE;
      case MediaTypes.OCI_LAYER_GZIP, MediaTypes.DOCKER_LAYER_GZIP -> Compression.GZIP;
      case MediaTypes.OCI_LAYER_ZSTD -> Compression.ZSTD;
      default -> throw LaminaException.notImplemented("unsupported diff media type: " + mediaType);
    };
  }

  private Descriptor write(Path lowerRoot, Path upperRoot, String mediaType, Compression compression,
      DiffConfig config) throws IOException {
    boolean newRef = config.ref().isEmpty();
    String ref = newRef ? "diff-" + UUID.randomUUID() : config.ref();
    Map<String, String> labels = new LinkedHashMap<>(config.labels());
    DiffResult result;
    boolean existed = false;
    boolean ok = false;
    Writer w = store.writer(ref, -1, null);
    try {
      if (!newRef) {
        w.truncate(0); // a named ref may hold an earlier attempt
      }
      OutputStream out = new BufferedOutputStream(w.outputStream(), WRITE_BUFFER);
      result = comparer.compare(lowerRoot, upperRoot, compression, out);
      out.flush();
      labels.put(Labels.UNCOMPRESSED, result.diffId().toString());
      try {
        w.commit(result.size(), result.digest(), labels);
      } catch (LaminaException e) {
        if (e.kind() != ErrorKind.ALREADY_EXISTS) {
          throw e;
        }
        existed = true;
      }
      ok = true;
    } finally {
      w.close();
      if (!ok && newRef) {
        try {
          store.abort(ref);
        } catch (IOException e) {
          LOG.debug("could not abort diff upload {}: {}", ref, e.getMessage());
        }
      }
    }
    Info info = store.info(result.digest());
    if (existed) {
      // The blob was there already: add what this request asked for, keep any diff ID it had.
      Map<String, String> had = info.labels();
      Map<String, String> add = new LinkedHashMap<>(labels);
      if (had.containsKey(Labels.UNCOMPRESSED)) {
        add.remove(Labels.UNCOMPRESSED);
      }
      add.entrySet().removeIf(e -> e.getValue().equals(had.get(e.getKey())));
      if (!add.isEmpty()) {
        List<String> paths = new ArrayList<>();
        add.keySet().forEach(k -> paths.add("labels." + k));
        info = store.update(Info.ofLabels(result.digest(), add), paths);
      }
    }
    return Descriptor.of(mediaType, info.digest(), info.size());
  }

  /** Runs {@code fn} on a read-only view of {@code mounts}: an empty dir for none. */
  private <T> T readOnly(List<Mount> mounts, TempMounts.MountedFunction<T> fn) throws IOException {
    if (mounts.isEmpty()) {
      Files.createDirectories(scratch);
      Path empty = Files.createTempDirectory(scratch, "empty-");
      try {
        return fn.apply(empty);
      } finally {
        Files.delete(empty);
      }
    }
    if (mounts.size() == 1 && isBind(mounts.get(0)) && mounts.get(0).target().isEmpty()) {
      return fn.apply(directory(mounts.get(0).source()));
    }
    return mounter.withTempMount(readOnlyMounts(mounts), fn);
  }

  /**
   * containerd's {@code readonlyMounts}: binds get {@code ro}; an overlay loses its upper and work
   * dirs, the upper dir becoming the top lower dir (a single dir becomes a read-only bind).
   */
  static List<Mount> readOnlyMounts(List<Mount> mounts) {
    List<Mount> out = new ArrayList<>(mounts.size());
    for (Mount m : mounts) {
      if (m.type().equals("overlay")) {
        String upper = option(m, "upperdir");
        String lowers = option(m, "lowerdir");
        if (upper == null) {
          out.add(withRo(m));
          continue;
        }
        String lowerdir = lowers == null || lowers.isEmpty() ? upper : upper + ":" + lowers;
        if (!lowerdir.contains(":")) {
          out.add(new Mount("bind", lowerdir, m.target(), List.of("ro", "rbind")));
          continue;
        }
        List<String> opts = new ArrayList<>();
        for (String o : m.options()) {
          if (!o.startsWith("upperdir=") && !o.startsWith("workdir=") && !o.startsWith("lowerdir=") && !o.equals("rw")) {
            opts.add(o);
          }
        }
        opts.add("lowerdir=" + lowerdir);
        opts.add("ro");
        out.add(new Mount("overlay", m.source(), m.target(), opts));
      } else {
        out.add(withRo(m));
      }
    }
    return out;
  }

  private static Mount withRo(Mount m) {
    if (m.readOnly()) {
      return m;
    }
    List<String> opts = new ArrayList<>(m.options());
    opts.remove("rw");
    opts.add("ro");
    return new Mount(m.type(), m.source(), m.target(), opts);
  }

  static boolean isBind(Mount m) {
    return m.type().equals("bind") || m.type().equals("rbind")
        || m.options().contains("bind") || m.options().contains("rbind");
  }

  static String option(Mount m, String key) {
    String prefix = key + "=";
    String found = null;
    for (String o : m.options()) {
      if (o.startsWith(prefix)) {
        found = o.substring(prefix.length());
      }
    }
    return found;
  }
}
