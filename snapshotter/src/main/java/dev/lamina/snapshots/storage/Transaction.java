package dev.lamina.snapshots.storage;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.snapshots.Info;
import dev.lamina.snapshots.Kind;
import dev.lamina.snapshots.Usage;
import java.io.IOException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import org.slf4j.Logger;

/**
 * One metadata transaction of a {@link MetaStore}: the storage operations of containerd's
 * {@code core/snapshots/storage/bolt.go}, with the same error kinds, and the hooks that tie
 * directory moves to the outcome.
 *
 * <p>Error kinds, as containerd's metastore returns them: unknown key or parent NOT_FOUND; key or
 * committed name in use ALREADY_EXISTS; a prepare/view parent that is not committed
 * INVALID_ARGUMENT; committing what is not active, a rebase onto an uncommitted parent, removing
 * a snapshot with children, or asking the mounts of a committed snapshot FAILED_PRECONDITION; a
 * rebase onto a different parent, an immutable field path, an empty key or a key with NUL
 * INVALID_ARGUMENT.
 */
public final class Transaction {
  /** Labels bigger than this (key plus value bytes) are refused, as containerd's labels.Validate does. */
  public static final int MAX_LABEL_SIZE = 4096;

  /** Something to undo or finish, run by the {@link MetaStore}. */
  @FunctionalInterface
  public interface Action {
    void run() throws IOException;
  }

  private final Db db;
  private final boolean writable;
  private final CommittedParents parents;
  private final List<Action> rollback = new ArrayList<>();
  private final List<Action> afterCommit = new ArrayList<>();

  Transaction(Db db, boolean writable, CommittedParents parents) {
    this.db = db;
    this.writable = writable;
    this.parents = parents;
  }

  /** Runs {@code action} if this transaction does not commit (undo of a directory move). */
  public void onRollback(Action action) {
    requireWritable();
    rollback.add(action);
  }

  /** Runs {@code action} after this transaction committed, outside the write lock. */
  public void afterCommit(Action action) {
    requireWritable();
    afterCommit.add(action);
  }

  void undo(Throwable failure) {
    for (int i = rollback.size() - 1; i >= 0; i--) {
      try {
        rollback.get(i).run();
      } catch (IOException | RuntimeException e) {
        failure.addSuppressed(e);
      }
    }
  }

  void runAfterCommit(Logger log) {
    for (Action a : afterCommit) {
      try {
        a.run();
      } catch (IOException | RuntimeException e) {
        log.warn("post-commit cleanup failed; cleanup() will retry", e);
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // schema

  void createSchema() throws IOException {
    update("CREATE TABLE IF NOT EXISTS snapshots ("
        + " id INTEGER PRIMARY KEY AUTOINCREMENT,"
        + " name TEXT NOT NULL UNIQUE,"
        + " kind TEXT NOT NULL CHECK (kind IN ('view', 'active', 'committed')),"
        + " parent_id INTEGER REFERENCES snapshots(id),"
        + " created_ns INTEGER NOT NULL,"
        + " updated_ns INTEGER NOT NULL,"
        + " inodes INTEGER NOT NULL DEFAULT 0,"
        + " size INTEGER NOT NULL DEFAULT 0)");
    update("CREATE INDEX IF NOT EXISTS snapshots_by_parent ON snapshots(parent_id)");
    update("CREATE TABLE IF NOT EXISTS snapshot_labels ("
        + " snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,"
        + " name TEXT NOT NULL,"
        + " value TEXT NOT NULL,"
        + " PRIMARY KEY (snapshot_id, name)) WITHOUT ROWID");
    update("CREATE TABLE IF NOT EXISTS lamina_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL)");
    try {
      PreparedStatement ps = db.ps("SELECT version FROM lamina_schema WHERE component = 'snapshots'");
      try (ResultSet rs = ps.executeQuery()) {
        if (rs.next()) {
          int v = rs.getInt(1);
          if (v > MetaStore.SCHEMA_VERSION) {
            throw new LaminaException(ErrorKind.FAILED_PRECONDITION,
                "snapshot metadata has schema version " + v + ", newer than this lamina (" + MetaStore.SCHEMA_VERSION + ")");
          }
          return;
        }
      }
      ps = db.ps("INSERT INTO lamina_schema (component, version) VALUES ('snapshots', ?)");
      ps.setInt(1, MetaStore.SCHEMA_VERSION);
      ps.executeUpdate();
    } catch (SQLException e) {
      throw sqlError("schema", e);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // reads

  /** Info, id and recorded usage of the snapshot named {@code key}; NOT_FOUND when there is none. */
  public StoredInfo getInfo(String key) throws IOException {
    Row row = row(key).orElseThrow(() -> LaminaException.notFound("snapshot " + quote(key) + " does not exist"));
    return new StoredInfo(row.id, info(row, labels(row.id)), new Usage(row.inodes, row.size));
  }

  /**
   * The active or view snapshot {@code key} with its parent chain: NOT_FOUND when unknown,
   * FAILED_PRECONDITION when committed.
   */
  public Snapshot getSnapshot(String key) throws IOException {
    Row row = row(key).orElseThrow(() -> LaminaException.notFound("snapshot " + quote(key) + " does not exist"));
    if (row.kind == Kind.COMMITTED) {
      throw LaminaException.failedPrecondition("snapshot " + quote(key) + " is not active or view");
    }
    return new Snapshot(row.id, row.kind, row.parentId == 0 ? List.of() : chain(row.parentId));
  }

  /** Every snapshot matching {@code filters} (containerd syntax; any filter may match), by id. */
  public List<Info> walk(List<String> filters) throws IOException {
    Filter filter = Filter.parseAll(filters);
    Map<Long, Map<String, String>> labels = new HashMap<>();
    try {
      try (ResultSet rs = db.ps("SELECT snapshot_id, name, value FROM snapshot_labels").executeQuery()) {
        while (rs.next()) {
          labels.computeIfAbsent(rs.getLong(1), k -> new TreeMap<>()).put(rs.getString(2), rs.getString(3));
        }
      }
      List<Info> out = new ArrayList<>();
      try (ResultSet rs = db.ps(ROW_SELECT + " ORDER BY s.id").executeQuery()) {
        while (rs.next()) {
          Row row = readRow(rs);
          Info info = info(row, labels.getOrDefault(row.id, Map.of()));
          if (filter.match(path -> field(info, path))) {
            out.add(info);
          }
        }
      }
      return out;
    } catch (SQLException e) {
      throw sqlError("walk", e);
    }
  }

  /** Ids of every snapshot: the directories under {@code snapshots/} that are live. */
  public Set<Long> ids() throws IOException {
    Set<Long> ids = new HashSet<>();
    try (ResultSet rs = db.ps("SELECT id FROM snapshots").executeQuery()) {
      while (rs.next()) {
        ids.add(rs.getLong(1));
      }
    } catch (SQLException e) {
      throw sqlError("ids", e);
    }
    return ids;
  }

  // ---------------------------------------------------------------------------------------------
  // checks shared by the read-only planning step and the write

  /**
   * Checks that {@code key} can be created as {@code kind} on {@code parent}, in containerd's
   * order, and returns the parent chain it would get.
   */
  public List<Long> planCreate(Kind kind, String key, String parent) throws IOException {
    if (kind != Kind.ACTIVE && kind != Kind.VIEW) {
      throw LaminaException.invalidArgument("snapshot kind " + kind + " invalid; only active or view snapshots can be created");
    }
    validateKey("key", key);
    List<Long> parents = List.of();
    if (!parent.isEmpty()) {
      Row p = row(parent).orElseThrow(() -> LaminaException.notFound("parent " + quote(parent) + " does not exist"));
      if (p.kind != Kind.COMMITTED) {
        throw LaminaException.invalidArgument("parent " + quote(parent) + " is not a committed snapshot");
      }
      parents = chain(p.id);
    }
    if (row(key).isPresent()) {
      throw LaminaException.alreadyExists("snapshot " + quote(key) + " already exists");
    }
    return parents;
  }

  /**
   * Checks that active {@code key} can be committed as {@code name} (rebased onto {@code parent}
   * when not empty) and returns its id.
   */
  public long planCommit(String key, String name, String parent) throws IOException {
    validateKey("name", name);
    if (row(name).isPresent()) {
      throw LaminaException.alreadyExists("committed snapshot " + quote(name) + " already exists");
    }
    Row row = row(key).orElseThrow(() -> LaminaException.notFound("active snapshot " + quote(key) + " does not exist"));
    if (row.kind != Kind.ACTIVE) {
      throw LaminaException.failedPrecondition("snapshot " + quote(key) + " is not active");
    }
    String current = row.parentName == null ? "" : row.parentName;
    if (!parent.isEmpty() && !parent.equals(current)) {
      if (!current.isEmpty()) {
        throw LaminaException.invalidArgument("cannot change parent of active snapshot " + quote(key) + " on commit: " + quote(current) + " -> " + quote(parent));
      }
      Row p = row(parent).orElseThrow(() -> LaminaException.notFound("parent " + quote(parent) + " of snapshot " + quote(key) + " does not exist"));
      if (p.kind != Kind.COMMITTED) {
        throw LaminaException.failedPrecondition("parent " + quote(parent) + " is not committed");
      }
    }
    return row.id;
  }

  /**
   * The chain of committed snapshot {@code name}, itself first: NOT_FOUND when unknown,
   * FAILED_PRECONDITION when not committed.
   */
  public List<Long> committedChain(String name) throws IOException {
    Row p = row(name).orElseThrow(() -> LaminaException.notFound("snapshot " + quote(name) + " does not exist"));
    if (p.kind != Kind.COMMITTED) {
      throw LaminaException.failedPrecondition("snapshot " + quote(name) + " is not committed");
    }
    return chain(p.id);
  }

  // ---------------------------------------------------------------------------------------------
  // writes

  /** Inserts an active or view snapshot; see {@link #planCreate} for the errors. */
  public Snapshot createSnapshot(Kind kind, String key, String parent, Map<String, String> labels) throws IOException {
    requireWritable();
    List<Long> parents = planCreate(kind, key, parent);
    Map<String, String> clean = validateLabels(labels);
    long now = nowNanos();
    try {
      PreparedStatement ps = db.ps("INSERT INTO snapshots (name, kind, parent_id, created_ns, updated_ns) VALUES (?, ?, ?, ?, ?)");
      ps.setString(1, key);
      ps.setString(2, kindName(kind));
      if (parents.isEmpty()) {
        ps.setNull(3, java.sql.Types.INTEGER);
      } else {
        ps.setLong(3, parents.get(0));
      }
      ps.setLong(4, now);
      ps.setLong(5, now);
      ps.executeUpdate();
      long id = lastId();
      writeLabels(id, clean);
      return new Snapshot(id, kind, parents);
    } catch (SQLException e) {
      throw sqlError("create " + quote(key), e);
    }
  }

  /**
   * Turns active {@code key} into committed {@code name} with {@code usage}, keeping its id. The
   * labels are replaced, not inherited. A non-empty {@code parent} rebases a snapshot prepared
   * without one. Returns the id.
   */
  public long commitActive(String key, String name, Usage usage, String parent, Map<String, String> labels) throws IOException {
    requireWritable();
    long id = planCommit(key, name, parent);
    Map<String, String> clean = validateLabels(labels);
    long now = nowNanos();
    try {
      PreparedStatement ps = db.ps("UPDATE snapshots SET name = ?, kind = 'committed', created_ns = ?, updated_ns = ?, inodes = ?, size = ?,"
          + " parent_id = COALESCE(parent_id, (SELECT p.id FROM snapshots p WHERE p.name = ?)) WHERE id = ?");
      ps.setString(1, name);
      ps.setLong(2, now);
      ps.setLong(3, now);
      ps.setLong(4, usage.inodes());
      ps.setLong(5, usage.size());
      ps.setString(6, parent);
      ps.setLong(7, id);
      ps.executeUpdate();
      deleteLabels(id);
      writeLabels(id, clean);
      return id;
    } catch (SQLException e) {
      throw sqlError("commit " + quote(key) + " as " + quote(name), e);
    }
  }

  /**
   * As {@link #commitActive}, but the committed snapshot gets a new id (so a new directory): for
   * a driver that must rebuild the tree to rebase it. The active row is deleted (an active
   * snapshot never has children) and a committed one inserted. Returns the new id.
   */
  public long commitActiveAsNew(String key, String name, Usage usage, String parent, Map<String, String> labels) throws IOException {
    requireWritable();
    long oldId = planCommit(key, name, parent);
    Map<String, String> clean = validateLabels(labels);
    Row row = row(key).orElseThrow();
    long parentId = row.parentId;
    if (parentId == 0 && !parent.isEmpty()) {
      parentId = row(parent).orElseThrow().id;
    }
    long now = nowNanos();
    try {
      deleteLabels(oldId);
      PreparedStatement ps = db.ps("DELETE FROM snapshots WHERE id = ?");
      ps.setLong(1, oldId);
      ps.executeUpdate();
      ps = db.ps("INSERT INTO snapshots (name, kind, parent_id, created_ns, updated_ns, inodes, size) VALUES (?, 'committed', ?, ?, ?, ?, ?)");
      ps.setString(1, name);
      if (parentId == 0) {
        ps.setNull(2, java.sql.Types.INTEGER);
      } else {
        ps.setLong(2, parentId);
      }
      ps.setLong(3, now);
      ps.setLong(4, now);
      ps.setLong(5, usage.inodes());
      ps.setLong(6, usage.size());
      ps.executeUpdate();
      long id = lastId();
      writeLabels(id, clean);
      return id;
    } catch (SQLException e) {
      throw sqlError("commit " + quote(key) + " as " + quote(name), e);
    }
  }

  /** What {@link #remove} deleted. */
  public record Removed(long id, Kind kind) {}

  /** Deletes {@code key}: NOT_FOUND when unknown, FAILED_PRECONDITION while it has children. */
  public Removed remove(String key) throws IOException {
    requireWritable();
    Row row = row(key).orElseThrow(() -> LaminaException.notFound("snapshot " + quote(key) + " does not exist"));
    try {
      PreparedStatement ps = db.ps("SELECT 1 FROM snapshots WHERE parent_id = ? LIMIT 1");
      ps.setLong(1, row.id);
      try (ResultSet rs = ps.executeQuery()) {
        if (rs.next()) {
          throw LaminaException.failedPrecondition("cannot remove snapshot " + quote(key) + " with child");
        }
      }
      deleteLabels(row.id);
      ps = db.ps("DELETE FROM snapshots WHERE id = ?");
      ps.setLong(1, row.id);
      ps.executeUpdate();
    } catch (SQLException e) {
      throw sqlError("remove " + quote(key), e);
    }
    long removed = row.id;
    afterCommit(() -> parents.forget(removed));
    return new Removed(row.id, row.kind);
  }

  /**
   * Changes the labels of {@code info.name()}, the only mutable field. Without field paths all
   * labels are replaced; {@code labels} replaces all, {@code labels.<key>} sets or, when absent or
   * empty in {@code info}, removes one label; any other path is INVALID_ARGUMENT.
   */
  public Info updateInfo(Info info, List<String> fieldPaths) throws IOException {
    requireWritable();
    Row row = row(info.name()).orElseThrow(() -> LaminaException.notFound("snapshot " + quote(info.name()) + " does not exist"));
    Map<String, String> labels = new TreeMap<>(labels(row.id));
    if (fieldPaths == null || fieldPaths.isEmpty()) {
      labels = new TreeMap<>(info.labels());
    } else {
      for (String path : fieldPaths) {
        if (path.startsWith("labels.")) {
          String k = path.substring("labels.".length());
          String v = info.labels().get(k);
          if (v == null || v.isEmpty()) {
            labels.remove(k);
          } else {
            labels.put(k, v);
          }
        } else if (path.equals("labels")) {
          labels = new TreeMap<>(info.labels());
        } else {
          throw LaminaException.invalidArgument("cannot update " + quote(path) + " field on snapshot " + quote(info.name()));
        }
      }
    }
    Map<String, String> clean = validateLabels(labels);
    long now = nowNanos();
    try {
      PreparedStatement ps = db.ps("UPDATE snapshots SET updated_ns = ? WHERE id = ?");
      ps.setLong(1, now);
      ps.setLong(2, row.id);
      ps.executeUpdate();
      deleteLabels(row.id);
      writeLabels(row.id, clean);
    } catch (SQLException e) {
      throw sqlError("update " + quote(info.name()), e);
    }
    row.updatedNs = now;
    return info(row, clean);
  }

  // ---------------------------------------------------------------------------------------------
  // helpers

  private static final String ROW_SELECT = "SELECT s.id, s.name, s.kind, s.parent_id, p.name, s.created_ns, s.updated_ns, s.inodes, s.size"
      + " FROM snapshots s LEFT JOIN snapshots p ON p.id = s.parent_id";

  private static final class Row {
    long id;
    String name;
    Kind kind;
    long parentId;
    String parentName;
    long createdNs;
    long updatedNs;
    long inodes;
    long size;
  }

  private Optional<Row> row(String key) throws IOException {
    try {
      PreparedStatement ps = db.ps(ROW_SELECT + " WHERE s.name = ?");
      ps.setString(1, key);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? Optional.of(readRow(rs)) : Optional.empty();
      }
    } catch (SQLException e) {
      throw sqlError("get " + quote(key), e);
    }
  }

  private static Row readRow(ResultSet rs) throws SQLException {
    Row r = new Row();
    r.id = rs.getLong(1);
    r.name = rs.getString(2);
    r.kind = kindOf(rs.getString(3));
    r.parentId = rs.getLong(4);
    r.parentName = rs.getString(5);
    r.createdNs = rs.getLong(6);
    r.updatedNs = rs.getLong(7);
    r.inodes = rs.getLong(8);
    r.size = rs.getLong(9);
    return r;
  }

  /**
   * The chain from committed {@code id} down to the base: from {@link CommittedParents} as far as
   * it knows the chain, the rest in one recursive query however long it is. Every caller walks
   * from a parent that was committed before this transaction began.
   */
  private List<Long> chain(long id) throws IOException {
    List<Long> ids = new ArrayList<>();
    long next = id;
    for (Long parent; next != 0 && (parent = parents.parentOf(next)) != null; next = parent) {
      ids.add(next);
    }
    if (next == 0) {
      return List.copyOf(ids);
    }
    Map<Long, Long> learnt = new HashMap<>();
    try {
      PreparedStatement ps = db.ps("WITH RECURSIVE chain(id, parent_id, depth) AS ("
          + " SELECT id, parent_id, 0 FROM snapshots WHERE id = ?"
          + " UNION ALL SELECT s.id, s.parent_id, c.depth + 1 FROM snapshots s JOIN chain c ON s.id = c.parent_id)"
          + " SELECT id, parent_id FROM chain ORDER BY depth");
      ps.setLong(1, next);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          long child = rs.getLong(1);
          ids.add(child);
          learnt.put(child, rs.getLong(2));
        }
      }
    } catch (SQLException e) {
      throw sqlError("parent chain of " + id, e);
    }
    if (writable) {
      afterCommit(() -> parents.learn(learnt));
    } else {
      parents.learn(learnt);
    }
    return List.copyOf(ids);
  }

  private Map<String, String> labels(long id) throws IOException {
    try {
      PreparedStatement ps = db.ps("SELECT name, value FROM snapshot_labels WHERE snapshot_id = ?");
      ps.setLong(1, id);
      Map<String, String> out = new TreeMap<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.put(rs.getString(1), rs.getString(2));
        }
      }
      return out;
    } catch (SQLException e) {
      throw sqlError("labels of " + id, e);
    }
  }

  private void writeLabels(long id, Map<String, String> labels) throws SQLException {
    if (labels.isEmpty()) {
      return;
    }
    PreparedStatement ps = db.ps("INSERT INTO snapshot_labels (snapshot_id, name, value) VALUES (?, ?, ?)");
    for (Map.Entry<String, String> e : labels.entrySet()) {
      ps.setLong(1, id);
      ps.setString(2, e.getKey());
      ps.setString(3, e.getValue());
      ps.addBatch();
    }
    ps.executeBatch();
  }

  private void deleteLabels(long id) throws SQLException {
    PreparedStatement ps = db.ps("DELETE FROM snapshot_labels WHERE snapshot_id = ?");
    ps.setLong(1, id);
    ps.executeUpdate();
  }

  private long lastId() throws SQLException {
    try (ResultSet rs = db.ps("SELECT last_insert_rowid()").executeQuery()) {
      rs.next();
      return rs.getLong(1);
    }
  }

  private void update(String sql) throws IOException {
    try (Statement st = db.connection().createStatement()) {
      st.executeUpdate(sql);
    } catch (SQLException e) {
      throw sqlError(sql, e);
    }
  }

  private static Info info(Row row, Map<String, String> labels) {
    return new Info(row.kind, row.name, row.parentName == null ? "" : row.parentName, labels, instant(row.createdNs), instant(row.updatedNs));
  }

  /** The value of a filter field path ({@code kind}, {@code name}, {@code parent}, {@code labels.K}) on a snapshot. */
  public static Optional<String> field(Info info, List<String> path) {
    if (path.isEmpty()) {
      return Optional.empty();
    }
    return switch (path.get(0)) {
      case "kind" -> Optional.of(kindName(info.kind()));
      case "name" -> Optional.of(info.name());
      case "parent" -> Optional.of(info.parent());
      case "labels" -> {
        if (info.labels().isEmpty()) {
          yield Optional.empty();
        }
        yield Optional.ofNullable(info.labels().get(String.join(".", path.subList(1, path.size()))));
      }
      default -> Optional.empty();
    };
  }

  /** Checks a key or name: not empty, no NUL. Its content never becomes a path. */
  public static void validateKey(String what, String key) throws LaminaException {
    if (key == null || key.isEmpty()) {
      throw LaminaException.invalidArgument("snapshot " + what + " must not be empty");
    }
    if (key.indexOf('\0') >= 0) {
      throw LaminaException.invalidArgument("snapshot " + what + " " + quote(key) + " contains NUL");
    }
  }

  /** Labels without the empty values (an empty value means "no label", as in containerd), checked. */
  static Map<String, String> validateLabels(Map<String, String> labels) throws LaminaException {
    Map<String, String> out = new TreeMap<>();
    if (labels == null) {
      return out;
    }
    for (Map.Entry<String, String> e : labels.entrySet()) {
      String k = e.getKey();
      String v = e.getValue() == null ? "" : e.getValue();
      if (k == null || k.isEmpty()) {
        throw LaminaException.invalidArgument("label key must not be empty");
      }
      if (k.indexOf('\0') >= 0 || v.indexOf('\0') >= 0) {
        throw LaminaException.invalidArgument("label " + quote(k) + " contains NUL");
      }
      int size = k.getBytes(java.nio.charset.StandardCharsets.UTF_8).length + v.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
      if (size > MAX_LABEL_SIZE) {
        throw LaminaException.invalidArgument("label key and value length (" + size + " bytes) greater than maximum size (" + MAX_LABEL_SIZE + " bytes)");
      }
      if (!v.isEmpty()) {
        out.put(k, v);
      }
    }
    return out;
  }

  static String kindName(Kind kind) {
    return switch (kind) {
      case VIEW -> "view";
      case ACTIVE -> "active";
      case COMMITTED -> "committed";
    };
  }

  private static Kind kindOf(String s) {
    return switch (s) {
      case "view" -> Kind.VIEW;
      case "active" -> Kind.ACTIVE;
      case "committed" -> Kind.COMMITTED;
      default -> throw new IllegalStateException("unknown snapshot kind in metadata: " + s);
    };
  }

  private static long nowNanos() {
    Instant now = Instant.now();
    return now.getEpochSecond() * 1_000_000_000L + now.getNano();
  }

  private static Instant instant(long nanos) {
    return Instant.ofEpochSecond(Math.floorDiv(nanos, 1_000_000_000L), Math.floorMod(nanos, 1_000_000_000L));
  }

  private static String quote(String s) {
    return "\"" + s.replace("\0", "\\0") + "\"";
  }

  private void requireWritable() {
    if (!writable) {
      throw new IllegalStateException("write in a read-only transaction");
    }
  }

  static IOException sqlError(String what, SQLException e) {
    if (MetaStore.isBusy(e)) {
      return new LaminaException(ErrorKind.UNAVAILABLE, "snapshot metadata busy: " + what + ": " + e.getMessage(), e);
    }
    return new IOException("snapshot metadata: " + what + ": " + e.getMessage(), e);
  }

  /** A connection and its prepared statements; used by one transaction at a time. */
  static final class Db {
    private final Connection connection;
    private final Map<String, PreparedStatement> statements = new HashMap<>();

    Db(Connection connection) {
      this.connection = connection;
    }

    Connection connection() {
      return connection;
    }

    PreparedStatement ps(String sql) throws SQLException {
      PreparedStatement ps = statements.get(sql);
      if (ps == null) {
        ps = connection.prepareStatement(sql);
        statements.put(sql, ps);
      } else {
        ps.clearParameters();
      }
      return ps;
    }

    void close() {
      for (PreparedStatement ps : statements.values()) {
        try {
          ps.close();
        } catch (SQLException ignored) {
          // closing anyway
        }
      }
      statements.clear();
      try {
        connection.close();
      } catch (SQLException ignored) {
        // nothing left to do
      }
    }
  }
}
