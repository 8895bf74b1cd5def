package dev.lamina.images;

import dev.lamina.digest.Digest;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.sqlite.NativeLibrary;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.sqlite.SQLiteConfig;

/**
 * Image records in SQLite (WAL): one row per name, pointing at the descriptor the name resolved to
 * (an index or a manifest), the platform's manifest and the config, whose digest is the image ID.
 * The file may be shared with the snapshotter's metadata ({@code <root>/metadata.db}); the table is
 * {@code images}, its schema version the {@code images} row of {@code lamina_schema}. Every change
 * is one transaction; synchronous=NORMAL, like the snapshot metadata: after a power cut the last
 * records may be gone (the image is pulled again), never half-written.
 */
final class ImageDb implements Closeable {
  static final int SCHEMA_VERSION = 1;
  private static final int BUSY_TIMEOUT_MILLIS = 30_000;

  /**
   * One name.
   *
   * @param name a normalized reference: {@code docker.io/library/busybox:1.36} or {@code
   *     docker.io/library/busybox@sha256:...}
   * @param targetMediaType what the name resolved to: a manifest or an index
   */
  record Row(
      String name,
      String targetMediaType,
      Digest target,
      long targetSize,
      Digest manifest,
      Digest config,
      Instant created,
      Instant updated) {}

  private final Path file;
  private final Connection db;

  private ImageDb(Path file, Connection db) {
    this.file = file;
    this.db = db;
  }

  static ImageDb open(Path file) throws IOException {
    Files.createDirectories(file.toAbsolutePath().getParent());
    NativeLibrary.prepare();
    SQLiteConfig config = new SQLiteConfig();
    config.setJournalMode(SQLiteConfig.JournalMode.WAL);
    config.setSynchronous(SQLiteConfig.SynchronousMode.NORMAL);
    config.setBusyTimeout(BUSY_TIMEOUT_MILLIS);
    Connection c;
    try {
      c = config.createConnection("jdbc:sqlite:" + file.toAbsolutePath());
    } catch (SQLException e) {
      throw new LaminaException(ErrorKind.INTERNAL, "cannot open image metadata " + file + ": " + e.getMessage(), e);
    }
    ImageDb idb = new ImageDb(file, c);
    try {
      idb.migrate();
    } catch (IOException | RuntimeException e) {
      idb.close();
      throw e;
    }
    return idb;
  }

  private synchronized void migrate() throws IOException {
    inTransaction("create schema", () -> {
      try (Statement st = db.createStatement()) {
        st.execute("CREATE TABLE IF NOT EXISTS lamina_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL)");
        try (ResultSet rs = st.executeQuery("SELECT version FROM lamina_schema WHERE component = 'images'")) {
          if (rs.next() && rs.getInt(1) > SCHEMA_VERSION) {
            throw LaminaException.failedPrecondition("image metadata in " + file + " has schema version "
                + rs.getInt(1) + ", newer than this lamina (" + SCHEMA_VERSION + ")");
          }
        }
        st.execute("CREATE TABLE IF NOT EXISTS images ("
            + "name TEXT PRIMARY KEY, "
            + "target_media_type TEXT NOT NULL, "
            + "target_digest TEXT NOT NULL, "
            + "target_size INTEGER NOT NULL, "
            + "manifest_digest TEXT NOT NULL, "
            + "config_digest TEXT NOT NULL, "
            + "created_ns INTEGER NOT NULL, "
            + "updated_ns INTEGER NOT NULL)");
        st.execute("CREATE INDEX IF NOT EXISTS images_by_config ON images (config_digest)");
        st.execute("INSERT OR REPLACE INTO lamina_schema (component, version) VALUES ('images', " + SCHEMA_VERSION
            + ")");
      }
      return null;
    });
  }

  /**
   * Points every one of {@code names} at the image, in one transaction: new names are created,
   * existing ones (a tag that moved) updated, keeping their creation time.
   */
  synchronized void put(List<String> names, String targetMediaType, Digest target, long targetSize, Digest manifest,
      Digest config) throws IOException {
    long now = nanos(Instant.now());
    inTransaction("record image " + config + " as " + names, () -> {
      try (PreparedStatement ps = db.prepareStatement("INSERT INTO images (name, target_media_type, target_digest,"
          + " target_size, manifest_digest, config_digest, created_ns, updated_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
          + " ON CONFLICT (name) DO UPDATE SET target_media_type = excluded.target_media_type,"
          + " target_digest = excluded.target_digest, target_size = excluded.target_size,"
          + " manifest_digest = excluded.manifest_digest, config_digest = excluded.config_digest,"
          + " updated_ns = excluded.updated_ns")) {
        for (String name : names) {
          ps.setString(1, name);
          ps.setString(2, targetMediaType);
          ps.setString(3, target.toString());
          ps.setLong(4, targetSize);
          ps.setString(5, manifest.toString());
          ps.setString(6, config.toString());
          ps.setLong(7, now);
          ps.setLong(8, now);
          ps.executeUpdate();
        }
      }
      return null;
    });
  }

  synchronized Optional<Row> byName(String name) throws IOException {
    List<Row> rows = query("SELECT * FROM images WHERE name = ?", name);
    return rows.isEmpty() ? Optional.empty() : Optional.of(rows.get(0));
  }

  /** Every name of the image with this ID (config digest), sorted. */
  synchronized List<Row> byImageId(Digest id) throws IOException {
    return query("SELECT * FROM images WHERE config_digest = ? ORDER BY name", id.toString());
  }

  /** Image IDs starting with {@code prefix} (algorithm and colon included), at most {@code limit}. */
  synchronized List<Digest> imageIdsWithPrefix(String prefix, int limit) throws IOException {
    List<Digest> out = new ArrayList<>();
    try (PreparedStatement ps = db.prepareStatement("SELECT DISTINCT config_digest FROM images"
        + " WHERE substr(config_digest, 1, ?) = ? ORDER BY config_digest LIMIT ?")) {
      ps.setInt(1, prefix.length());
      ps.setString(2, prefix);
      ps.setInt(3, limit);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.add(Digest.parse(rs.getString(1)));
        }
      }
    } catch (SQLException e) {
      throw error("look up image IDs", e);
    }
    return out;
  }

  synchronized List<Row> all() throws IOException {
    return query("SELECT * FROM images ORDER BY config_digest, name");
  }

  /** Deletes every name of the image with this ID, in one transaction; returns the names deleted. */
  synchronized List<String> deleteImage(Digest id) throws IOException {
    return inTransaction("remove image " + id, () -> {
      List<String> names = new ArrayList<>();
      for (Row r : byImageId(id)) {
        names.add(r.name());
      }
      try (PreparedStatement ps = db.prepareStatement("DELETE FROM images WHERE config_digest = ?")) {
        ps.setString(1, id.toString());
        ps.executeUpdate();
      }
      return names;
    });
  }

  private List<Row> query(String sql, String... args) throws IOException {
    List<Row> out = new ArrayList<>();
    try (PreparedStatement ps = db.prepareStatement(sql)) {
      for (int i = 0; i < args.length; i++) {
        ps.setString(i + 1, args[i]);
      }
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.add(new Row(
              rs.getString("name"),
              rs.getString("target_media_type"),
              Digest.parse(rs.getString("target_digest")),
              rs.getLong("target_size"),
              Digest.parse(rs.getString("manifest_digest")),
              Digest.parse(rs.getString("config_digest")),
              instant(rs.getLong("created_ns")),
              instant(rs.getLong("updated_ns"))));
        }
      }
    } catch (SQLException e) {
      throw error("read image records", e);
    }
    return out;
  }

  private interface Work<T> {
    T run() throws IOException, SQLException;
  }

  private <T> T inTransaction(String what, Work<T> work) throws IOException {
    try {
      try (Statement st = db.createStatement()) {
        st.execute("BEGIN IMMEDIATE");
      }
      try {
        T result = work.run();
        try (Statement st = db.createStatement()) {
          st.execute("COMMIT");
        }
        return result;
      } catch (IOException | SQLException | RuntimeException e) {
        try (Statement st = db.createStatement()) {
          st.execute("ROLLBACK");
        } catch (SQLException re) {
          e.addSuppressed(re);
        }
        throw e;
      }
    } catch (SQLException e) {
      throw error(what, e);
    }
  }

  private LaminaException error(String what, SQLException e) {
    return new LaminaException(ErrorKind.INTERNAL, what + " in " + file + ": " + e.getMessage(), e);
  }

  private static long nanos(Instant t) {
    return t.getEpochSecond() * 1_000_000_000L + t.getNano();
  }

  private static Instant instant(long nanos) {
    return Instant.ofEpochSecond(Math.floorDiv(nanos, 1_000_000_000L), Math.floorMod(nanos, 1_000_000_000L));
  }

  @Override
  public synchronized void close() {
    try {
      db.close();
    } catch (SQLException ignored) {
      // nothing left to do
    }
  }
}
