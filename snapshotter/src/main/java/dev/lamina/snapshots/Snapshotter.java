package dev.lamina.snapshots;

import dev.lamina.mount.Mount;
import java.io.Closeable;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.Set;
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
 * <p>Keys and names are arbitrary non-empty strings without NUL ({@code default/1/sha256:...},
 * even {@code ../x}); they are data, never paths.
 *
 * <p>Errors are {@link dev.lamina.errdefs.LaminaException}s with the kinds containerd's
 * snapshotters return:
 *
 * <ul>
 *   <li>NOT_FOUND: unknown key, unknown parent (prepare, view, or a rebasing commit);
 *   <li>ALREADY_EXISTS: prepare/view with a key in use, commit to a name in use (checked before
 *       the key, so committing a key as itself is ALREADY_EXISTS);
 *   <li>FAILED_PRECONDITION: committing what is not active (a view, a committed snapshot),
 *       rebasing onto a parent that is not committed, removing a snapshot that has children,
 *       asking the mounts of a committed snapshot;
 *   <li>INVALID_ARGUMENT: preparing on a parent that is not committed (containerd's metastore
 *       says invalid argument here, not failed precondition), rebasing an active snapshot that
 *       has a different parent, updating a field other than labels, an empty key or one with NUL,
 *       a label over 4096 bytes, a malformed walk filter.
 * </ul>
 *
 * <p>A failed call changes nothing, on disk or in metadata.
 */
public interface Snapshotter extends Closeable {
  /** What it can do beyond this contract; none by default. */
  default Set<Capability> capabilities() {
    return Set.of();
  }

  Info stat(String key) throws IOException;

  /**
   * Replaces the labels (only labels are mutable) of {@code info.name()} and returns the new info.
   * With field paths such as {@code labels.foo} only those labels are set or, when absent (or
   * empty) in {@code info}, removed; {@code labels} replaces all of them; any other path is
   * INVALID_ARGUMENT. A label with an empty value is no label, as in containerd.
   */
  Info update(Info info, List<String> fieldPaths) throws IOException;

  /**
   * Usage of the snapshot's own layer: measured now for an active one, recorded at commit for a
   * committed one, zero for a view. (For a copy-based snapshotter the own layer is the whole copy.)
   */
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
