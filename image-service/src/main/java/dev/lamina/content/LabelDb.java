package dev.lamina.content;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.sqlite.NativeLibrary;
import java.io.IOException;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * Labels and timestamps of committed blobs, in a small SQLite database beside the blobs (WAL,
 * synchronous=FULL: a committed label survives a power cut). The blob files are the truth about
 * what exists; a row without its blob is ignored and removed with the blob.
 */
final class LabelDb implements AutoCloseable {
  private static final int SCHEMA_VERSION = 1;

  /** Blob metadata as stored. */
  record Row(Instant createdAt, Instant updatedAt, Map<String, String> labels) {}

  private final Path file;
  private final Connection db;

  LabelDb(Path file) throws IOException {
    this.file = file;
    NativeLibrary.prepare();
    try {
      db = DriverManager.getConnection("jdbc:sqlite:" + file);
      try (Statement st = db.createStatement()) {
        st.execute("PRAGMA journal_mode=WAL");
        st.execute("PRAGMA synchronous=FULL");
        st.execute("PRAGMA busy_timeout=5000");
        st.execute("PRAGMA foreign_keys=ON");
        st.execute("CREATE TABLE IF NOT EXISTS content_blobs ("
            + "digest TEXT PRIMARY KEY, created_at_ns INTEGER NOT NULL, updated_at_ns INTEGER NOT NULL)");
        st.execute("CREATE TABLE IF NOT EXISTS content_labels ("
            + "digest TEXT NOT NULL REFERENCES content_blobs(digest) ON DELETE CASCADE, "
            + "key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (digest, key))");
        st.execute("PRAGMA user_version=" + SCHEMA_VERSION);
      }
    } catch (SQLException e) {
      throw error("open", e);
    }
  }

  synchronized Optional<Row> get(String digest) throws IOException {
    try (PreparedStatement q = db.prepareStatement(
        "SELECT created_at_ns, updated_at_ns FROM content_blobs WHERE digest = ?")) {
      q.setString(1, digest);
      try (ResultSet rs = q.executeQuery()) {
        if (!rs.next()) {
          return Optional.empty();
        }
        return Optional.of(new Row(instant(rs.getLong(1)), instant(rs.getLong(2)), labels(digest)));
      }
    } catch (SQLException e) {
      throw error("read labels of " + digest, e);
    }
  }

  /** Records a newly committed blob, replacing any leftover row of an earlier blob with its digest. */
  synchronized void insert(String digest, Instant now, Map<String, String> labels) throws IOException {
    inTransaction("record " + digest, () -> {
      delete0(digest);
      try (PreparedStatement ins = db.prepareStatement(
          "INSERT INTO content_blobs (digest, created_at_ns, updated_at_ns) VALUES (?, ?, ?)")) {
        ins.setString(1, digest);
        ins.setLong(2, nanos(now));
        ins.setLong(3, nanos(now));
        ins.executeUpdate();
      }
      putLabels(digest, labels);
    });
  }

  /** Replaces the labels of {@code digest}, creating its row (with {@code created}) if missing. */
  synchronized void replaceLabels(String digest, Instant created, Instant now, Map<String, String> labels)
      throws IOException {
    inTransaction("update labels of " + digest, () -> {
      try (PreparedStatement up = db.prepareStatement(
          "INSERT INTO content_blobs (digest, created_at_ns, updated_at_ns) VALUES (?, ?, ?) "
              + "ON CONFLICT(digest) DO UPDATE SET updated_at_ns = excluded.updated_at_ns")) {
        up.setString(1, digest);
        up.setLong(2, nanos(created));
        up.setLong(3, nanos(now));
        up.executeUpdate();
      }
      try (PreparedStatement del = db.prepareStatement("DELETE FROM content_labels WHERE digest = ?")) {
        del.setString(1, digest);
        del.executeUpdate();
      }
      putLabels(digest, labels);
    });
  }

  synchronized void delete(String digest) throws IOException {
    inTransaction("delete labels of " + digest, () -> delete0(digest));
  }

  @Override
  public synchronized void close() throws IOException {
    try {
      db.close();
    } catch (SQLException e) {
      throw error("close", e);
    }
  }

  private void delete0(String digest) throws SQLException {
    try (PreparedStatement del = db.prepareStatement("DELETE FROM content_blobs WHERE digest = ?")) {
      del.setString(1, digest);
      del.executeUpdate();
    }
  }

  private void putLabels(String digest, Map<String, String> labels) throws SQLException {
    try (PreparedStatement ins = db.prepareStatement(
        "INSERT INTO content_labels (digest, key, value) VALUES (?, ?, ?)")) {
      for (Map.Entry<String, String> e : labels.entrySet()) {
        ins.setString(1, digest);
        ins.setString(2, e.getKey());
        ins.setString(3, e.getValue());
        ins.addBatch();
      }
      ins.executeBatch();
    }
  }

  private Map<String, String> labels(String digest) throws SQLException {
    Map<String, String> labels = new TreeMap<>();
    try (PreparedStatement q = db.prepareStatement("SELECT key, value FROM content_labels WHERE digest = ?")) {
      q.setString(1, digest);
      try (ResultSet rs = q.executeQuery()) {
        while (rs.next()) {
          labels.put(rs.getString(1), rs.getString(2));
        }
      }
    }
    return labels;
  }

  private interface SqlWork {
    void run() throws SQLException;
  }

  private void inTransaction(String what, SqlWork work) throws IOException {
    try {
      db.setAutoCommit(false);
      try {
        work.run();
        db.commit();
      } catch (SQLException | RuntimeException e) {
        db.rollback();
        throw e;
      } finally {
        db.setAutoCommit(true);
      }
    } catch (SQLException e) {
      throw error(what, e);
    }
  }

  private static long nanos(Instant t) {
    return t.getEpochSecond() * 1_000_000_000L + t.getNano();
  }

  private static Instant instant(long nanos) {
    return Instant.ofEpochSecond(Math.floorDiv(nanos, 1_000_000_000L), Math.floorMod(nanos, 1_000_000_000L));
  }

  private LaminaException error(String what, SQLException e) {
    return new LaminaException(ErrorKind.INTERNAL, "content label db " + file + ": " + what + ": " + e.getMessage(), e);
  }
}
