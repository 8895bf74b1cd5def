package dev.lamina.content;

import dev.lamina.digest.Digest;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import java.util.function.Predicate;
import java.util.stream.Stream;

/**
 * The content store on a local filesystem (containerd's {@code plugins/content/local}):
 *
 * <pre>
 *   ROOT/blobs/sha256/HEX          committed blobs, read-only (0444), never rewritten
 *   ROOT/ingest/SHA256(REF)/       one unfinished write: ref, total, startedat, data, lock
 *   ROOT/labels.db                 labels and timestamps of committed blobs (SQLite)
 * </pre>
 *
 * <p>A write goes to the ingest's {@code data} file and is hashed as it arrives. Commit verifies
 * size and digest, fsyncs the data, and publishes it with {@code link(2)} into the blob directory,
 * which is then fsynced: like a rename it is atomic, and unlike a rename it never replaces a blob
 * that is already there (the commit then fails with ALREADY_EXISTS and the blob stays untouched).
 * The offset of an ingest is the length of its data file; a writer opened again with the same ref
 * re-hashes that data and continues after it.
 *
 * <p>A ref is locked while a writer holds it, in this process (a set of refs) and against other
 * processes (an exclusive lock on the ingest's {@code lock} file).
 */
public final class LocalContentStore implements Store {
  private static final String INGEST_DATA = "data";
  private static final String INGEST_REF = "ref";
  private static final String INGEST_TOTAL = "total";
  private static final String INGEST_STARTED = "startedat";
  private static final String INGEST_LOCK = "lock";

  private final Path root;
  private final Path blobs;
  private final Path ingests;
  private final LabelDb db;
  /** Refs held by an open writer, with when they were locked. */
  private final ConcurrentHashMap<String, Instant> locked = new ConcurrentHashMap<>();

  private LocalContentStore(Path root) throws IOException {
    this.root = root;
    this.blobs = root.resolve("blobs");
    this.ingests = root.resolve("ingest");
    Files.createDirectories(blobs.resolve("sha256"));
    Files.createDirectories(ingests);
    this.db = new LabelDb(root.resolve("labels.db"));
  }

  /** Opens (creating if needed) the store whose files live under {@code root}, e.g. {@code /var/lib/lamina/content}. */
  public static LocalContentStore open(Path root) throws IOException {
    return new LocalContentStore(root.toAbsolutePath());
  }

  public Path root() {
    return root;
  }

  // ---- Provider

  @Override
  public ReaderAt readerAt(Digest digest) throws IOException {
    Path blob = blobPath(digest);
    FileChannel ch;
    try {
      ch = FileChannel.open(blob, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS);
    } catch (NoSuchFileException e) {
      throw notFound(digest);
    }
    long size = ch.size();
    return new ReaderAt() {
      @Override
      public long size() {
        return size;
      }

      @Override
      public int readAt(ByteBuffer dst, long position) throws IOException {
        if (position >= size) {
          return -1;
        }
        return ch.read(dst, position);
      }

      @Override
      public void close() throws IOException {
        ch.close();
      }
    };
  }

  // ---- Manager

  @Override
  public Info info(Digest digest) throws IOException {
    return info(digest, blobAttributes(digest).orElseThrow(() -> notFound(digest)));
  }

  @Override
  public Info update(Info info, List<String> fieldPaths) throws IOException {
    Digest digest = info.digest();
    Info current = info(digest);
    Map<String, String> labels = new java.util.TreeMap<>(current.labels());
    if (fieldPaths == null || fieldPaths.isEmpty()) {
      labels = new java.util.TreeMap<>(info.labels());
    } else {
      for (String path : fieldPaths) {
        if (path.equals("labels")) {
          labels = new java.util.TreeMap<>(info.labels());
        } else if (path.startsWith("labels.") && path.length() > "labels.".length()) {
          String key = path.substring("labels.".length());
          String value = info.labels().get(key);
          if (value == null) {
            labels.remove(key);
          } else {
            labels.put(key, value);
          }
        } else {
          throw LaminaException.invalidArgument("cannot update \"" + path + "\" of content " + digest
              + ": only labels are mutable");
        }
      }
    }
    validateLabels(labels);
    db.replaceLabels(digest.toString(), current.createdAt(), Instant.now(), labels);
    return info(digest);
  }

  @Override
  public void walk(Consumer<Info> fn, List<String> filters) throws IOException {
    Predicate<Filters.Fields> match = Filters.parseAny(filters == null ? List.of() : filters);
    List<Path> algorithms;
    try (Stream<Path> s = Files.list(blobs)) {
      algorithms = s.sorted().toList();
    }
    for (Path algDir : algorithms) {
      List<Path> files;
      try (Stream<Path> s = Files.list(algDir)) {
        files = s.sorted(Comparator.comparing(Path::getFileName)).toList();
      }
      for (Path file : files) {
        Digest digest;
        try {
          digest = new Digest(algDir.getFileName().toString(), file.getFileName().toString());
        } catch (IllegalArgumentException notABlob) {
          continue;
        }
        Optional<BasicFileAttributes> attrs = blobAttributes(digest);
        if (attrs.isEmpty()) {
          continue; // deleted meanwhile
        }
        Info info = info(digest, attrs.get());
        if (match.test(path -> field(info, path))) {
          fn.accept(info);
        }
      }
    }
  }

  @Override
  public void delete(Digest digest) throws IOException {
    try {
      Files.delete(blobPath(digest));
    } catch (NoSuchFileException e) {
      throw notFound(digest);
    }
    db.delete(digest.toString());
  }

  // ---- Ingester

  @Override
  public Writer writer(String ref, long total, Digest expected) throws IOException {
    if (ref == null || ref.isEmpty()) {
      throw LaminaException.invalidArgument("content writer needs a ref");
    }
    if (total < -1) {
      throw LaminaException.invalidArgument("negative expected size " + total + " for ref " + ref);
    }
    Instant now = Instant.now();
    Instant since = locked.putIfAbsent(ref, now);
    if (since != null) {
      throw locked(ref, since);
    }
    boolean ok = false;
    FileChannel lockChannel = null;
    try {
      if (expected != null && blobAttributes(expected).isPresent()) {
        throw LaminaException.alreadyExists("content " + expected + ": already exists");
      }
      Path dir = ingestDir(ref);
      Files.createDirectories(dir);
      lockChannel = FileChannel.open(dir.resolve(INGEST_LOCK), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
      if (lockChannel.tryLock() == null) {
        throw locked(ref, now);
      }
      Path refFile = dir.resolve(INGEST_REF);
      long storedTotal = -1;
      Instant startedAt = now;
      if (Files.exists(refFile) && Files.readString(refFile).equals(ref)) {
        storedTotal = readLong(dir.resolve(INGEST_TOTAL)).orElse(-1L);
        startedAt = readLong(dir.resolve(INGEST_STARTED)).map(LocalContentStore::instant).orElse(now);
        if (total >= 0 && storedTotal >= 0 && total != storedTotal) {
          throw LaminaException.failedPrecondition("ref " + ref + " was started with expected size " + storedTotal
              + ", not " + total);
        }
      } else {
        // A new ingest, or one a crash left before its ref was recorded: start it over.
        Files.deleteIfExists(dir.resolve(INGEST_DATA));
        Files.writeString(dir.resolve(INGEST_STARTED), Long.toString(nanos(now)));
        Files.writeString(refFile, ref);
      }
      long effectiveTotal = total >= 0 ? total : storedTotal;
      Files.writeString(dir.resolve(INGEST_TOTAL), Long.toString(effectiveTotal));
      LocalWriter w = new LocalWriter(this, ref, dir, dir.resolve(INGEST_DATA), lockChannel, effectiveTotal, expected,
          startedAt);
      ok = true;
      return w;
    } finally {
      if (!ok) {
        if (lockChannel != null) {
          lockChannel.close();
        }
        locked.remove(ref);
      }
    }
  }

  // ---- IngestManager

  @Override
  public Status status(String ref) throws IOException {
    Path dir = ingestDir(ref);
    Path refFile = dir.resolve(INGEST_REF);
    if (!Files.exists(refFile) || !Files.readString(refFile).equals(ref)) {
      throw LaminaException.notFound("ingest ref " + ref + ": not found");
    }
    return statusOf(dir, ref);
  }

  @Override
  public List<Status> statuses() throws IOException {
    List<Status> all = new ArrayList<>();
    try (DirectoryStream<Path> dirs = Files.newDirectoryStream(ingests)) {
      for (Path dir : dirs) {
        try {
          String ref = Files.readString(dir.resolve(INGEST_REF));
          all.add(statusOf(dir, ref));
        } catch (NoSuchFileException gone) {
          // committed, aborted or never finished starting
        }
      }
    }
    all.sort(Comparator.comparing(Status::ref));
    return all;
  }

  @Override
  public void abort(String ref) throws IOException {
    Instant since = locked.get(ref);
    if (since != null) {
      throw locked(ref, since);
    }
    Path dir = ingestDir(ref);
    if (!Files.isDirectory(dir)) {
      throw LaminaException.notFound("ingest ref " + ref + ": not found");
    }
    deleteIngest(dir);
  }

  @Override
  public void close() throws IOException {
    db.close();
  }

  // ---- used by LocalWriter

  /**
   * Publishes verified, fsynced ingest data as the blob {@code digest} with {@code link(2)}: atomic,
   * and never replacing a blob that is already there.
   *
   * @return false when the blob already existed (it is left untouched)
   */
  boolean link(Path data, Digest digest) throws IOException {
    Path target = blobPath(digest);
    Path dir = target.getParent();
    Files.createDirectories(dir);
    try {
      Files.createLink(target, data);
    } catch (FileAlreadyExistsException e) {
      return false;
    }
    fsyncDirectory(dir);
    return true;
  }

  /** Records the labels and creation time of a blob that {@link #link} just published. */
  void record(Digest digest, Map<String, String> labels) throws IOException {
    db.insert(digest.toString(), Instant.now(), labels);
  }

  void release(String ref) {
    locked.remove(ref);
  }

  static void deleteIngest(Path dir) throws IOException {
    for (String name : new String[] {INGEST_DATA, INGEST_TOTAL, INGEST_STARTED, INGEST_REF, INGEST_LOCK}) {
      Files.deleteIfExists(dir.resolve(name));
    }
    try {
      Files.deleteIfExists(dir);
    } catch (java.nio.file.DirectoryNotEmptyException e) {
      // something we did not write: leave it to an operator rather than delete blindly
    }
  }

  static void validateLabels(Map<String, String> labels) throws LaminaException {
    for (Map.Entry<String, String> e : labels.entrySet()) {
      if (e.getKey().isEmpty()) {
        throw LaminaException.invalidArgument("label key is empty");
      }
      int size = e.getKey().getBytes(StandardCharsets.UTF_8).length + e.getValue().getBytes(StandardCharsets.UTF_8).length;
      if (size > Labels.MAX_SIZE) {
        throw LaminaException.invalidArgument("label " + e.getKey() + ": key and value length (" + size
            + " bytes) greater than maximum size (" + Labels.MAX_SIZE + " bytes)");
      }
    }
  }

  // ---- helpers

  private Info info(Digest digest, BasicFileAttributes attrs) throws IOException {
    Optional<LabelDb.Row> row = db.get(digest.toString());
    Instant mtime = attrs.lastModifiedTime().toInstant();
    return new Info(digest, attrs.size(),
        row.map(LabelDb.Row::createdAt).orElse(mtime),
        row.map(LabelDb.Row::updatedAt).orElse(mtime),
        row.map(LabelDb.Row::labels).orElse(Map.of()));
  }

  private Optional<BasicFileAttributes> blobAttributes(Digest digest) throws IOException {
    try {
      BasicFileAttributes a = Files.readAttributes(blobPath(digest), BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
      return a.isRegularFile() ? Optional.of(a) : Optional.empty();
    } catch (NoSuchFileException e) {
      return Optional.empty();
    }
  }

  private static Optional<String> field(Info info, List<String> path) {
    return switch (path.get(0)) {
      case "digest" -> path.size() == 1 ? Optional.of(info.digest().toString()) : Optional.empty();
      case "size" -> path.size() == 1 ? Optional.of(Long.toString(info.size())) : Optional.empty();
      case "labels" -> path.size() == 1 ? Optional.empty()
          : Optional.ofNullable(info.labels().get(String.join(".", path.subList(1, path.size()))));
      default -> Optional.empty();
    };
  }

  private Status statusOf(Path dir, String ref) throws IOException {
    Path data = dir.resolve(INGEST_DATA);
    long offset = 0;
    Instant updated;
    try {
      BasicFileAttributes a = Files.readAttributes(data, BasicFileAttributes.class);
      offset = a.size();
      updated = a.lastModifiedTime().toInstant();
    } catch (NoSuchFileException e) {
      updated = Files.getLastModifiedTime(dir.resolve(INGEST_REF)).toInstant();
    }
    long total = readLong(dir.resolve(INGEST_TOTAL)).orElse(-1L);
    Instant started = readLong(dir.resolve(INGEST_STARTED)).map(LocalContentStore::instant).orElse(updated);
    return new Status(ref, offset, total, null, started, updated);
  }

  Path blobPath(Digest digest) {
    return blobs.resolve(digest.algorithm()).resolve(digest.hex());
  }

  private Path ingestDir(String ref) {
    byte[] hash = Digest.newSha256().digest(ref.getBytes(StandardCharsets.UTF_8));
    return ingests.resolve(HexFormat.of().formatHex(hash));
  }

  static void fsyncDirectory(Path dir) throws IOException {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    }
  }

  private static Optional<Long> readLong(Path file) throws IOException {
    try {
      return Optional.of(Long.parseLong(Files.readString(file).strip()));
    } catch (NoSuchFileException | NumberFormatException e) {
      return Optional.empty();
    }
  }

  private static long nanos(Instant t) {
    return t.getEpochSecond() * 1_000_000_000L + t.getNano();
  }

  private static Instant instant(long nanos) {
    return Instant.ofEpochSecond(Math.floorDiv(nanos, 1_000_000_000L), Math.floorMod(nanos, 1_000_000_000L));
  }

  private static LaminaException notFound(Digest digest) {
    return LaminaException.notFound("content " + digest + ": not found");
  }

  private static LaminaException locked(String ref, Instant since) {
    return new LaminaException(ErrorKind.UNAVAILABLE, "ref " + ref + " locked (since " + since + ")");
  }
}
