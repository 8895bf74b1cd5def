package dev.lamina.snapshots.storage;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.fs.DiskUsage;
import dev.lamina.fs.RemoveAll;
import dev.lamina.mount.Mount;
import dev.lamina.posix.Posix;
import dev.lamina.posix.PosixException;
import dev.lamina.snapshots.Info;
import dev.lamina.snapshots.Kind;
import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.Usage;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the overlay and the copying snapshotter share: numbered directories under
 * {@code <root>/snapshots} named by the metadata id (so a key never becomes a path), metadata in
 * a {@link MetaStore}, and the protocol that keeps both consistent across crashes:
 *
 * <ul>
 *   <li>prepare/view: the new directory is filled under {@code snapshots/new-<random>} first;
 *       then, in one write transaction, the row is inserted, the directory renamed to
 *       {@code snapshots/<id>}, and the transaction committed. Any failure rolls back and removes
 *       the directory. A driver whose new directories take a few system calls to fill (overlay)
 *       inserts the row and fills {@code snapshots/<id>} in place, in one write transaction.
 *   <li>remove: in one write transaction the row is deleted and {@code snapshots/<id>} renamed to
 *       {@code snapshots/rm-<id>}; the transaction commits; then the directory is deleted.
 *   <li>commit: no directory moves; usage is measured before the transaction and recorded in it.
 * </ul>
 *
 * <p>After a crash, opening the store renames back an {@code rm-<id>} whose row survived (the
 * remove did not commit), and {@link #cleanup} deletes everything under {@code snapshots/} that no
 * row names. Ids never repeat (AUTOINCREMENT) except one whose insert never committed; a
 * directory left by such an insert is moved aside when the id comes round again.
 *
 * <p>Long work (copying a parent, measuring usage) happens outside the write lock, between a
 * read transaction that checks the request and the write transaction that re-checks it.
 */
public abstract class DirectorySnapshotter implements Snapshotter {
  private static final Logger LOG = LoggerFactory.getLogger(DirectorySnapshotter.class);
  private static final String NEW_PREFIX = "new-";
  private static final String REMOVED_PREFIX = "rm-";
  private static final String GARBAGE_PREFIX = "gc-";
  private static final String LOCK_FILE = "snapshots.lock";
  private static final int ATTEMPTS = 5;
  private static final SecureRandom RANDOM = new SecureRandom();
  /**
   * Roots open in this JVM. Checked before the lock file is touched: on Linux, closing any
   * descriptor of a file drops every fcntl lock the process holds on it, so a refused second
   * open must never open (and close) the lock file.
   */
  private static final Set<Path> OPEN_ROOTS = ConcurrentHashMap.newKeySet();

  protected final Path root;
  protected final Path snapshotsDir;
  /** {@link #snapshotsDir} as text, for {@link #upperDir}. */
  private final String snapshotsDirText;
  protected final MetaStore ms;
  protected final Posix posix = Posix.get();
  private final FileChannel lockChannel;
  private final FileLock lock;
  /** Temporary directories of operations in flight; cleanup leaves them alone. */
  private final Set<String> inflight = ConcurrentHashMap.newKeySet();
  private volatile boolean closed;

  /**
   * Opens (creating when missing) a snapshot store at {@code root}. Only one process may hold a
   * root: the second gets FAILED_PRECONDITION.
   */
  protected DirectorySnapshotter(Path root) throws IOException {
    this.root = root.toAbsolutePath().normalize();
    mkdirIfMissing(this.root);
    this.snapshotsDir = this.root.resolve("snapshots");
    this.snapshotsDirText = snapshotsDir.toString();
    mkdirIfMissing(snapshotsDir);
    if (!OPEN_ROOTS.add(this.root)) {
      throw LaminaException.failedPrecondition("snapshot root " + this.root + " is already open in this process");
    }
    FileChannel channel = null;
    FileLock l = null;
    try {
      channel = FileChannel.open(this.root.resolve(LOCK_FILE), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
      l = channel.tryLock();
    } catch (IOException | OverlappingFileLockException e) {
      l = null;
    } finally {
      if (l == null) {
        if (channel != null) {
          channel.close();
        }
        OPEN_ROOTS.remove(this.root);
      }
    }
    if (l == null) {
      throw LaminaException.failedPrecondition("snapshot root " + this.root + " is in use by another process");
    }
    this.lockChannel = channel;
    this.lock = l;
    MetaStore store = null;
    try {
      store = MetaStore.open(this.root.resolve("metadata.db"));
      this.ms = store;
      recover();
    } catch (IOException | RuntimeException e) {
      if (store != null) {
        store.close();
      }
      lock.release();
      lockChannel.close();
      OPEN_ROOTS.remove(this.root);
      throw e;
    }
  }

  private void mkdirIfMissing(Path dir) throws IOException {
    try {
      posix.mkdir(dir, 0700);
    } catch (PosixException e) {
      if (!e.isAlreadyExists()) {
        if (e.isNotFound()) {
          Files.createDirectories(dir.getParent());
          posix.mkdir(dir, 0700);
          return;
        }
        throw e;
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // what a driver decides

  /**
   * Fills the new snapshot directory {@code dir} (not yet published) for a snapshot of
   * {@code kind} on the committed chain {@code parentIds} (immediate parent first). Runs outside
   * the write lock; the parents cannot go away meanwhile without the create failing.
   */
  protected abstract void populate(Path dir, Kind kind, List<Long> parentIds) throws IOException;

  /**
   * Whether {@link #populate} is a handful of system calls whatever the parents hold. Then a
   * create is one write transaction that fills {@code snapshots/<id>} in place, instead of a
   * read that plans it, the filling outside the lock, and the write: half the metadata work of a
   * call, for drivers such as overlay whose new directories are empty.
   */
  protected boolean populatesQuickly() {
    return false;
  }

  /** The mounts of an active or view snapshot. */
  protected abstract List<Mount> mountsOf(Snapshot s);

  /**
   * Called, outside the lock, when active snapshot {@code id} prepared without a parent is
   * committed onto {@code parentIds} (immediate parent first). Overlay needs nothing and returns
   * false. A driver that must rebuild the tree fills the empty new directory {@code into} (as
   * {@link #populate} would) and returns true; the committed snapshot then gets a new id whose
   * directory {@code into} becomes, and the active one's directory is removed, all in the commit
   * transaction.
   */
  protected boolean rebase(long id, List<Long> parentIds, Path into) throws IOException {
    return false;
  }

  /**
   * The usage of active snapshot {@code id}'s own layer now: a walk of {@link #upperPath}, as
   * {@code du -s} counts it. A driver that can ask the filesystem instead overrides this; a
   * snapshot whose directory is gone fails with NoSuchFileException or an ENOENT PosixException.
   */
  protected Usage measureActive(long id) throws IOException {
    DiskUsage du = DiskUsage.of(upperPath(id));
    return new Usage(du.inodes(), du.size());
  }

  /**
   * {@link #populate} of a driver that {@link #populatesQuickly}: fills {@code snapshots/<id>} in
   * place, so the driver may use the id (overlay gives the directory a project ID from it).
   */
  protected void populateInPlace(Path dir, long id, Kind kind, List<Long> parentIds) throws IOException {
    populate(dir, kind, parentIds);
  }

  /** Whether {@link #rebase} rebuilds trees; when false no directory is prepared for it. */
  protected boolean rebaseRebuildsTree() {
    return false;
  }

  /** {@code <root>/snapshots/<id>}. */
  protected final Path dir(long id) {
    return snapshotsDir.resolve(Long.toString(id));
  }

  /** The tree of the snapshot's own layer: {@code <root>/snapshots/<id>/fs}. */
  protected final Path upperPath(long id) {
    return Path.of(upperDir(id));
  }

  /**
   * {@link #upperPath} as text, made without Path objects: mounts name it for every layer of a
   * chain, on every call.
   */
  protected final String upperDir(long id) {
    return snapshotsDirText + '/' + id + "/fs";
  }

  /** {@code <root>/snapshots/<id>/work}. */
  protected final Path workPath(long id) {
    return dir(id).resolve("work");
  }

  public Path root() {
    return root;
  }

  /**
   * The directory of snapshot {@code key}, {@code <root>/snapshots/<id>}: for diagnostics and
   * tests; its layout belongs to the driver.
   */
  public Path directoryOf(String key) throws IOException {
    long id = ms.read(tx -> tx.getInfo(key).id());
    return dir(id);
  }

  // ---------------------------------------------------------------------------------------------
  // Snapshotter

  @Override
  public Info stat(String key) throws IOException {
    return ms.read(tx -> tx.getInfo(key).info());
  }

  @Override
  public Info update(Info info, List<String> fieldPaths) throws IOException {
    if (info == null || info.name() == null || info.name().isEmpty()) {
      throw LaminaException.invalidArgument("update needs the name of a snapshot");
    }
    return ms.write(tx -> tx.updateInfo(info, fieldPaths == null ? List.of() : fieldPaths));
  }

  @Override
  public Usage usage(String key) throws IOException {
    StoredInfo si = ms.read(tx -> tx.getInfo(key));
    if (si.info().kind() != Kind.ACTIVE) {
      return si.usage();
    }
    try {
      return measureActive(si.id());
    } catch (NoSuchFileException | PosixException e) {
      if (e instanceof PosixException pe && !pe.isNotFound()) {
        throw e;
      }
      throw new LaminaException(ErrorKind.NOT_FOUND, "snapshot \"" + key + "\" was removed while measuring", e);
    }
  }

  @Override
  public List<Mount> mounts(String key) throws IOException {
    return mountsOf(ms.read(tx -> tx.getSnapshot(key)));
  }

  @Override
  public List<Mount> prepare(String key, String parent, Map<String, String> labels) throws IOException {
    return create(Kind.ACTIVE, key, parent, labels);
  }

  @Override
  public List<Mount> view(String key, String parent, Map<String, String> labels) throws IOException {
    return create(Kind.VIEW, key, parent, labels);
  }

  private List<Mount> create(Kind kind, String key, String parent, Map<String, String> labels) throws IOException {
    String p = parent == null ? "" : parent;
    Map<String, String> l = labels == null ? Map.of() : labels;
    Transaction.validateKey("key", key);
    Transaction.validateLabels(l);
    if (populatesQuickly()) {
      return mountsOf(ms.write(tx -> {
        Snapshot created = tx.createSnapshot(kind, key, p, l);
        Path path = dir(created.id());
        // in place: cleanup, the only other writer under snapshots/, waits for this transaction
        try {
          posix.mkdir(path, 0700);
        } catch (PosixException e) {
          if (!e.isAlreadyExists()) {
            throw e;
          }
          moveAsideStale(tx, path);
          posix.mkdir(path, 0700);
        }
        tx.onRollback(() -> RemoveAll.remove(path));
        populateInPlace(path, created.id(), kind, created.parentIds());
        return created;
      }));
    }
    for (int attempt = 1; ; attempt++) {
      List<Long> planned = ms.read(tx -> tx.planCreate(kind, key, p));
      String tmpName = NEW_PREFIX + random();
      Path td = snapshotsDir.resolve(tmpName);
      inflight.add(tmpName);
      try {
        posix.mkdir(td, 0700);
        populate(td, kind, planned);
        Snapshot s = ms.write(tx -> {
          Snapshot created = tx.createSnapshot(kind, key, p, l);
          if (!created.parentIds().equals(planned)) {
            throw new ParentChanged();
          }
          Path path = dir(created.id());
          moveAsideStale(tx, path);
          posix.rename(td, path);
          tx.onRollback(() -> RemoveAll.remove(path));
          return created;
        });
        return mountsOf(s);
      } catch (ParentChanged e) {
        if (attempt >= ATTEMPTS) {
          throw new LaminaException(ErrorKind.UNAVAILABLE, "parent " + p + " of " + key + " kept changing; try again");
        }
      } finally {
        try {
          RemoveAll.remove(td);
        } finally {
          inflight.remove(tmpName);
        }
      }
    }
  }

  /**
   * A directory at a freshly inserted id can only be left by an insert that never committed (a
   * crash after the rename): it is garbage. It goes aside now and is deleted after the commit.
   */
  private void moveAsideStale(Transaction tx, Path path) throws IOException {
    if (posix.lstatIfExists(path).isEmpty()) {
      return;
    }
    Path aside = snapshotsDir.resolve(GARBAGE_PREFIX + random());
    LOG.warn("moving aside stale snapshot directory {} left by an interrupted create", path);
    posix.rename(path, aside);
    tx.onRollback(() -> posix.rename(aside, path));
    tx.afterCommit(() -> RemoveAll.remove(aside));
  }

  @Override
  public void commit(String name, String key, String parent, Map<String, String> labels) throws IOException {
    String p = parent == null ? "" : parent;
    Map<String, String> l = labels == null ? Map.of() : labels;
    Transaction.validateKey("name", name);
    Transaction.validateLabels(l);
    for (int attempt = 1; ; attempt++) {
      long[] planned = new long[1];
      List<Long> rebaseOnto = ms.read(tx -> {
        planned[0] = tx.planCommit(key, name, p);
        if (!p.isEmpty() && tx.getInfo(key).info().parent().isEmpty()) {
          return tx.committedChain(p);
        }
        return null;
      });
      long id = planned[0];
      try {
        if (rebaseOnto == null || !rebaseRebuildsTree() || !commitRebuilt(key, name, p, l, id, rebaseOnto)) {
          DiskUsage du = measure(key, upperPath(id));
          Usage usage = new Usage(du.inodes(), du.size());
          ms.write(tx -> {
            if (tx.commitActive(key, name, usage, p, l) != id) {
              throw new ParentChanged();
            }
            return null;
          });
        }
        return;
      } catch (ParentChanged e) {
        if (attempt >= ATTEMPTS) {
          throw new LaminaException(ErrorKind.UNAVAILABLE, "active snapshot " + key + " kept changing during commit; try again");
        }
      }
    }
  }

  /** The rebase of a driver that rebuilds the tree: a new directory, a new id, the old one removed. */
  private boolean commitRebuilt(String key, String name, String parent, Map<String, String> labels, long id, List<Long> parents) throws IOException {
    String tmpName = NEW_PREFIX + random();
    Path td = snapshotsDir.resolve(tmpName);
    inflight.add(tmpName);
    try {
      posix.mkdir(td, 0700);
      if (!rebase(id, parents, td)) {
        return false;
      }
      DiskUsage du = measure(key, td.resolve("fs"));
      Usage usage = new Usage(du.inodes(), du.size());
      ms.write(tx -> {
        if (tx.planCommit(key, name, parent) != id) {
          throw new ParentChanged();
        }
        long newId = tx.commitActiveAsNew(key, name, usage, parent, labels);
        Path path = dir(newId);
        moveAsideStale(tx, path);
        posix.rename(td, path);
        tx.onRollback(() -> posix.rename(path, td));
        Path old = dir(id);
        Path renamed = snapshotsDir.resolve(REMOVED_PREFIX + id);
        if (posix.lstatIfExists(old).isPresent()) {
          posix.rename(old, renamed);
          tx.onRollback(() -> posix.rename(renamed, old));
          tx.afterCommit(() -> RemoveAll.remove(renamed));
        }
        return null;
      });
      return true;
    } finally {
      try {
        RemoveAll.remove(td);
      } finally {
        inflight.remove(tmpName);
      }
    }
  }

  private DiskUsage measure(String key, Path tree) throws IOException {
    try {
      return DiskUsage.of(tree);
    } catch (NoSuchFileException e) {
      throw new LaminaException(ErrorKind.NOT_FOUND, "active snapshot \"" + key + "\" was removed during commit", e);
    } catch (PosixException e) {
      if (e.isNotFound()) {
        throw new LaminaException(ErrorKind.NOT_FOUND, "active snapshot \"" + key + "\" was removed during commit", e);
      }
      throw e;
    }
  }

  @Override
  public void remove(String key) throws IOException {
    ms.write(tx -> {
      Transaction.Removed r = tx.remove(key);
      Path path = dir(r.id());
      Path renamed = snapshotsDir.resolve(REMOVED_PREFIX + r.id());
      if (posix.lstatIfExists(renamed).isPresent()) {
        // left by an earlier remove of this id that did not commit while the directory was back
        RemoveAll.remove(renamed);
      }
      if (posix.lstatIfExists(path).isPresent()) {
        posix.rename(path, renamed);
        tx.onRollback(() -> posix.rename(renamed, path));
        tx.afterCommit(() -> RemoveAll.remove(renamed));
      } else {
        LOG.warn("snapshot {} (id {}) had no directory {}", key, r.id(), path);
      }
      return null;
    });
  }

  @Override
  public void walk(Consumer<Info> fn, List<String> filters) throws IOException {
    List<Info> infos = ms.read(tx -> tx.walk(filters == null ? List.of() : filters));
    infos.forEach(fn);
  }

  /**
   * Deletes every entry of {@code snapshots/} that no row names: temporary directories of creates
   * that never finished, directories of removes that committed but were not deleted, directories
   * of inserts that never committed. Entries are renamed to {@code gc-*} inside a write
   * transaction, so no create running later can be hit, and deleted afterwards.
   */
  @Override
  public void cleanup() throws IOException {
    List<Path> garbage = ms.write(tx -> {
      Set<Long> ids = tx.ids();
      restoreUncommittedRemovals(ids);
      List<Path> out = new ArrayList<>();
      for (String name : list(snapshotsDir)) {
        if (inflight.contains(name) || isLive(name, ids)) {
          continue;
        }
        Path from = snapshotsDir.resolve(name);
        if (name.startsWith(GARBAGE_PREFIX)) {
          out.add(from);
          continue;
        }
        Path to = snapshotsDir.resolve(GARBAGE_PREFIX + random());
        try {
          posix.rename(from, to);
        } catch (PosixException e) {
          if (e.isNotFound()) {
            continue; // a remove that just committed deleted its rm-<id> itself
          }
          throw e;
        }
        tx.onRollback(() -> posix.rename(to, from));
        out.add(to);
      }
      return out;
    });
    IOException first = null;
    for (Path p : garbage) {
      try {
        RemoveAll.remove(p);
      } catch (IOException e) {
        LOG.warn("cleanup could not delete {}", p, e);
        if (first == null) {
          first = e;
        }
      }
    }
    if (first != null) {
      throw first;
    }
  }

  private static boolean isLive(String name, Set<Long> ids) {
    Optional<Long> id = parseId(name);
    return id.isPresent() && ids.contains(id.get());
  }

  /** At open: an {@code rm-<id>} whose row is still there belongs to a remove that did not commit. */
  private void recover() throws IOException {
    ms.write(tx -> {
      restoreUncommittedRemovals(tx.ids());
      return null;
    });
  }

  private void restoreUncommittedRemovals(Set<Long> ids) throws IOException {
    for (String name : list(snapshotsDir)) {
      if (!name.startsWith(REMOVED_PREFIX)) {
        continue;
      }
      Optional<Long> id = parseId(name.substring(REMOVED_PREFIX.length()));
      if (id.isPresent() && ids.contains(id.get()) && posix.lstatIfExists(dir(id.get())).isEmpty()) {
        LOG.warn("restoring {} of snapshot id {}: its remove did not commit", name, id.get());
        posix.rename(snapshotsDir.resolve(name), dir(id.get()));
      }
    }
  }

  private static Optional<Long> parseId(String name) {
    if (name.isEmpty() || name.length() > 18) {
      return Optional.empty();
    }
    for (int i = 0; i < name.length(); i++) {
      char c = name.charAt(i);
      if (c < '0' || c > '9') {
        return Optional.empty();
      }
    }
    if (name.length() > 1 && name.charAt(0) == '0') {
      return Optional.empty();
    }
    return Optional.of(Long.parseLong(name));
  }

  private static List<String> list(Path dir) throws IOException {
    List<String> names = new ArrayList<>();
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
      for (Path p : ds) {
        names.add(p.getFileName().toString());
      }
    }
    return names;
  }

  private static String random() {
    byte[] b = new byte[8];
    RANDOM.nextBytes(b);
    return HexFormat.of().formatHex(b);
  }

  /** Closes the metadata and releases the root; idempotent. */
  @Override
  public void close() throws IOException {
    if (closed) {
      return;
    }
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
      try {
        ms.close();
      } finally {
        try {
          lock.release();
        } finally {
          lockChannel.close();
          OPEN_ROOTS.remove(root);
        }
      }
    }
  }

  /** The parent chain or the active row changed between planning and writing: start over. */
  private static final class ParentChanged extends RuntimeException {
    ParentChanged() {
      super(null, null, false, false);
    }
  }
}
