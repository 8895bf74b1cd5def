package dev.lamina.snapshots.copying;

import dev.lamina.fs.CopyDir;
import dev.lamina.mount.Mount;
import dev.lamina.snapshots.Kind;
import dev.lamina.snapshots.storage.DirectorySnapshotter;
import dev.lamina.snapshots.storage.Snapshot;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * containerd's native snapshotter, without overlayfs: every active snapshot holds a full copy of
 * its parent's tree in {@code <root>/snapshots/<id>/fs}, made at prepare (type, mode, owner when
 * root, xattrs, hard links, mtimes preserved). Mounts are one bind of {@code fs} ({@code rw}
 * active, {@code ro} view); a view of a committed parent binds the parent's {@code fs}
 * read-only, without copying. Usage is that of the whole copy, which is what it costs on disk.
 * A commit with a parent (rebase) of a snapshot prepared without one builds the full tree anew:
 * the parent's copy with the layer merged on top, overlay whiteouts honoured.
 * Works without root and on any filesystem; mounting the bind needs root, reading {@code fs}
 * directly does not.
 */
public final class CopyingSnapshotter extends DirectorySnapshotter {
  private CopyingSnapshotter(Path root) throws IOException {
    super(root);
  }

  public static CopyingSnapshotter open(Path root) throws IOException {
    return new CopyingSnapshotter(root);
  }

  /** The tree of a snapshot, for callers that read it without mounting. */
  public Path treeOf(String key) throws IOException {
    return directoryOf(key).resolve("fs");
  }

  @Override
  protected void populate(Path dir, Kind kind, List<Long> parentIds) throws IOException {
    Path fs = dir.resolve("fs");
    posix.mkdirExact(fs, 0755);
    if (kind == Kind.ACTIVE && !parentIds.isEmpty()) {
      CopyDir.copy(upperPath(parentIds.get(0)), fs);
    }
  }

  @Override
  protected List<Mount> mountsOf(Snapshot s) {
    String ro = s.kind() == Kind.VIEW ? "ro" : "rw";
    long source = s.parentIds().isEmpty() || s.kind() == Kind.ACTIVE ? s.id() : s.parentIds().get(0);
    return List.of(Mount.of("bind", upperDir(source), List.of(ro, "rbind")));
  }

  /**
   * A snapshot prepared without a parent holds only its own layer (overlay-style: whiteouts are
   * char devices 0/0, opaque directories are marked); rebased, it becomes a full tree again: a
   * copy of the parent with the layer merged on top.
   */
  @Override
  protected boolean rebaseRebuildsTree() {
    return true;
  }

  @Override
  protected boolean rebase(long id, List<Long> parentIds, Path into) throws IOException {
    Path fs = into.resolve("fs");
    posix.mkdirExact(fs, 0755);
    CopyDir.copy(upperPath(parentIds.get(0)), fs);
    CopyDir.merge(upperPath(id), fs);
    return true;
  }
}
