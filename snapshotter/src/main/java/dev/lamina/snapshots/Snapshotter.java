package dev.lamina.snapshots;

import dev.lamina.mount.Mount;
import java.io.Closeable;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Snapshots of filesystem trees, with containerd's vocabulary and semantics.
 *
 * <p>A snapshot is made {@code active} by {@link #prepare} with a {@code key} and an optional
 * committed {@code parent}; the caller mounts what {@link #mounts} returns, changes files, and
 * {@link #commit}s it under a {@code name}, which makes it immutable and usable as a parent. A
 * {@link #view} is a read-only active snapshot that cannot be committed. {@link #remove} refuses a
 * snapshot that still has children.
 *
 * <p>Errors are {@link dev.lamina.errdefs.LaminaException}s: NOT_FOUND for unknown keys,
 * ALREADY_EXISTS for a key in use, FAILED_PRECONDITION for a wrong kind (committing a view, a
 * parent that is not committed, removing a snapshot with children), INVALID_ARGUMENT for a
 * malformed key. A failed call changes nothing, on disk or in metadata.
 */
public interface Snapshotter extends Closeable {
  Info stat(String key) throws IOException;

  /**
   * Replaces the labels (only labels are mutable). With field paths such as
   * {@code labels.foo} only those labels are set or, when absent from {@code info}, removed.
   */
  Info update(Info info, List<String> fieldPaths) throws IOException;

  /** Usage of the snapshot's own layer: measured now for an active one, recorded at commit otherwise. */
  Usage usage(String key) throws IOException;

  /** The mounts of an active or view snapshot. */
  List<Mount> mounts(String key) throws IOException;

  List<Mount> prepare(String key, String parent, Map<String, String> labels) throws IOException;

  List<Mount> view(String key, String parent, Map<String, String> labels) throws IOException;

  /**
   * Commits the active snapshot {@code key} as {@code name}. A non-empty {@code parent} rebases
   * it: the snapshot was prepared without a parent (to unpack layers in parallel) and takes this
   * committed parent now.
   */
  void commit(String name, String key, String parent, Map<String, String> labels) throws IOException;

  void remove(String key) throws IOException;

  /** Calls {@code fn} for every snapshot that matches all filters (containerd filter syntax, e.g. {@code kind==active}, {@code labels."x"==y}, {@code parent==p}, {@code name==n}). */
  void walk(Consumer<Info> fn, List<String> filters) throws IOException;

  /** Removes directories that no metadata refers to (left by a crash). */
  void cleanup() throws IOException;
}
