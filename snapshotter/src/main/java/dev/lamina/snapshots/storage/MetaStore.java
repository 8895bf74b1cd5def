package dev.lamina.snapshots.storage;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.sqlite.NativeLibrary;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.sqlite.SQLiteConfig;
import org.sqlite.SQLiteErrorCode;
import org.sqlite.SQLiteException;

/**
 * Snapshot metadata in SQLite (WAL) at {@code <root>/metadata.db} (containerd's
 * {@code storage.MetaStore}, there on bolt). Drivers run every operation in one
 * {@link Transaction}, together with the directory moves it needs: work registered with
 * {@link Transaction#onRollback} undoes those moves when the transaction does not commit.
 *
 * <p>Writes are serialized: one writer connection behind a lock, each transaction a
 * {@code BEGIN IMMEDIATE}, so two writers never interleave and a writer in another process waits
 * (busy timeout) instead of failing. Reads use a small pool of their own connections and see the
 * last committed state without blocking the writer.
 *
 * <p>Durability: WAL with synchronous=NORMAL. A commit survives the process being killed at any
 * point; after a power loss the last commits may roll back, never corrupt. That matches the
 * directories, whose renames and contents are not synced either: metadata may lag the
 * directories (an orphan directory, which {@code cleanup} deletes, and a layer pulled again) but
 * does not run ahead of them. A sync per commit (FULL) cost 3-5 ms per operation here.
 *
 * <p>The database may be shared with other lamina components; the tables are {@code snapshots}
 * and {@code snapshot_labels}.
 */
public final class MetaStore implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(MetaStore.class);
  static final int SCHEMA_VERSION = 1;
  private static final int BUSY_TIMEOUT_MILLIS = 30_000;
  private static final int READERS = 4;

  /** Work run inside a transaction. */
  @FunctionalInterface
  public interface Work<T> {
    T run(Transaction tx) throws IOException;
  }

  private final Path file;
  private final ReentrantLock writeLock = new ReentrantLock(true);
  private final Transaction.Db writer;
  private final BlockingQueue<Transaction.Db> idleReaders = new ArrayBlockingQueue<>(READERS);
  private final Semaphore readers = new Semaphore(READERS);
  private final List<Transaction.Db> allReaders = new ArrayList<>();
  private final CommittedParents parents = new CommittedParents();
  private volatile boolean closed;

  private MetaStore(Path file) throws IOException {
    this.file = file;
    this.writer = new Transaction.Db(connect());
    try {
      migrate();
    } catch (IOException | RuntimeException e) {
      writer.close();
      throw e;
    }
  }

  /** Opens (creating when missing) the database file. */
  public static MetaStore open(Path file) throws IOException {
    Files.createDirectories(file.toAbsolutePath().getParent());
    return new MetaStore(file);
  }

  public Path file() {
    return file;
  }

  /** What transactions have learnt of committed chains (tests look inside). */
  CommittedParents committedParents() {
    return parents;
  }

  private Connection connect() throws IOException {
    NativeLibrary.prepare();
    SQLiteConfig config = new SQLiteConfig();
    config.setJournalMode(SQLiteConfig.JournalMode.WAL);
    config.setSynchronous(SQLiteConfig.SynchronousMode.NORMAL);
    config.setBusyTimeout(BUSY_TIMEOUT_MILLIS);
    config.enforceForeignKeys(true);
    try {
      return config.createConnection("jdbc:sqlite:" + file.toAbsolutePath());
    } catch (SQLException e) {
      throw new IOException("failed to open snapshot metadata " + file + ": " + e.getMessage(), e);
    }
  }

  private void migrate() throws IOException {
    write(tx -> {
      tx.createSchema();
      return null;
    });
  }

  /** Runs {@code work} in a read-only transaction: one consistent view of the last commit. */
  public <T> T read(Work<T> work) throws IOException {
    ensureOpen();
    readers.acquireUninterruptibly();
    Transaction.Db db = null;
    try {
      db = idleReaders.poll();
      if (db == null) {
        db = newReader();
      }
      Transaction tx = new Transaction(db, false, parents);
      exec(db, "BEGIN");
      try {
        return work.run(tx);
      } finally {
        try {
          exec(db, "ROLLBACK");
        } catch (IOException e) {
          LOG.warn("failed to end read transaction on {}", file, e);
        }
      }
    } finally {
      if (db != null) {
        if (closed) {
          db.close();
        } else {
          idleReaders.offer(db);
        }
      }
      readers.release();
    }
  }

  private synchronized Transaction.Db newReader() throws IOException {
    ensureOpen();
    Transaction.Db db = new Transaction.Db(connect());
    allReaders.add(db);
    return db;
  }

  /**
   * Runs {@code work} in the one write transaction. It commits when {@code work} returns; when
   * {@code work} throws or the commit fails, it rolls back and runs the transaction's
   * {@link Transaction#onRollback} actions, newest first. {@link Transaction#afterCommit} actions
   * run after a commit, outside the lock; their failures are logged, not thrown, because what
   * they clean up is no longer referenced.
   */
  public <T> T write(Work<T> work) throws IOException {
    ensureOpen();
    if (writeLock.isHeldByCurrentThread()) {
      throw new IllegalStateException("nested write transaction on " + file);
    }
    Transaction tx;
    T result;
    writeLock.lock();
    try {
      tx = new Transaction(writer, true, parents);
      exec(writer, "BEGIN IMMEDIATE");
      try {
        result = work.run(tx);
        exec(writer, "COMMIT");
      } catch (IOException | RuntimeException | Error e) {
        try {
          exec(writer, "ROLLBACK");
        } catch (IOException re) {
          // a failed COMMIT may already have rolled back
          if (re.getMessage() == null || !re.getMessage().contains("no transaction is active")) {
            e.addSuppressed(re);
          }
        }
        tx.undo(e);
        throw e;
      }
    } finally {
      writeLock.unlock();
    }
    tx.runAfterCommit(LOG);
    return result;
  }

  private static void exec(Transaction.Db db, String sql) throws IOException {
    try {
      db.ps(sql).execute();
    } catch (SQLException e) {
      throw Transaction.sqlError(sql, e);
    }
  }

  private void ensureOpen() throws LaminaException {
    if (closed) {
      throw new LaminaException(ErrorKind.FAILED_PRECONDITION, "snapshot metadata " + file + " is closed");
    }
  }

  /** Closes every connection; idempotent. Transactions still running finish first. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    writeLock.lock();
    try {
      if (closed) {
        return;
      }
      closed = true;
      readers.acquireUninterruptibly(READERS);
      try {
        synchronized (this) {
          for (Transaction.Db db : allReaders) {
            db.close();
          }
          allReaders.clear();
          idleReaders.clear();
        }
        writer.close();
      } finally {
        readers.release(READERS);
      }
    } finally {
      writeLock.unlock();
    }
  }

  static boolean isBusy(SQLException e) {
    return e instanceof SQLiteException se
        && (se.getResultCode() == SQLiteErrorCode.SQLITE_BUSY || se.getResultCode() == SQLiteErrorCode.SQLITE_LOCKED);
  }
}
