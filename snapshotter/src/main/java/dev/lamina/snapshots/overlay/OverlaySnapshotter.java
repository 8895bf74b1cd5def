package dev.lamina.snapshots.overlay;

import dev.lamina.errdefs.LaminaException;
import dev.lamina.mount.Mount;
import dev.lamina.mount.Mounter;
import dev.lamina.posix.FileStat;
import dev.lamina.posix.Posix;
import dev.lamina.snapshots.Capability;
import dev.lamina.snapshots.Kind;
import dev.lamina.snapshots.storage.DirectorySnapshotter;
import dev.lamina.snapshots.storage.Snapshot;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * containerd's overlayfs snapshotter: each snapshot's own changes live in
 * {@code <root>/snapshots/<id>/fs} (the overlay upper dir), active ones also have a
 * {@code work} dir, and mounts stack the parents' {@code fs} dirs as lowerdirs, newest first.
 *
 * <ul>
 *   <li>no parent: a bind mount of {@code fs}, {@code rw} for an active snapshot, {@code ro} for a view;
 *   <li>active with parents: {@code overlay} with {@code workdir}, {@code upperdir},
 *       {@code lowerdir=<parents, newest first>};
 *   <li>view of exactly one committed parent: a read-only bind of the parent's {@code fs};
 *   <li>view of more: {@code overlay} with {@code lowerdir} only, which the kernel mounts read-only.
 * </ul>
 *
 * <p>A new upper dir takes the owner of its parent's upper dir. Commit records the disk usage of
 * {@code fs}; a commit with a parent rebases a snapshot prepared without one (parallel unpack):
 * the upper dir needs nothing from its parents, so only metadata changes. Needs root and Linux.
 */
public final class OverlaySnapshotter extends DirectorySnapshotter {
  private final List<String> extraOptions;

  private OverlaySnapshotter(Path root, List<String> extraOptions) throws IOException {
    super(root);
    this.extraOptions = List.copyOf(extraOptions);
  }

  /**
   * Opens the snapshotter at {@code root}. Overlay options such as {@code index=off} (when the
   * kernel knows it, as containerd adds) are appended to every overlay mount.
   */
  @Override
  public Set<Capability> capabilities() {
    return Set.of(Capability.REBASE);
  }

  public static OverlaySnapshotter open(Path root) throws IOException {
    Path abs = root.toAbsolutePath().normalize();
    String s = abs.toString();
    // lowerdir lists are split on ':' and mount options on ','
    if (s.indexOf(':') >= 0 || s.indexOf(',') >= 0) {
      throw LaminaException.invalidArgument("overlay snapshotter root " + s + " must not contain ':' or ','");
    }
    List<String> options = new ArrayList<>();
    if (Files.exists(Path.of("/sys/module/overlay/parameters/index"))) {
      options.add("index=off");
    }
    return new OverlaySnapshotter(abs, options);
  }

  /**
   * Whether overlayfs can be mounted with upper dirs on the filesystem of {@code dir}: tries one
   * small mount under it. Callers fall back to the copying snapshotter when not.
   */
  public static boolean supported(Path dir) {
    if (!Posix.get().isRoot()) {
      return false;
    }
    Path base = null;
    try {
      Files.createDirectories(dir);
      base = Files.createTempDirectory(dir, "overlay-check-");
      for (String d : List.of("lower", "upper", "work", "merged")) {
        Files.createDirectory(base.resolve(d));
      }
      Mounter.mount(Mount.of("overlay", "overlay", List.of("workdir=" + base.resolve("work"), "upperdir=" + base.resolve("upper"),
          "lowerdir=" + base.resolve("lower"))), base.resolve("merged"));
      Mounter.unmount(base.resolve("merged"));
      return true;
    } catch (IOException e) {
      return false;
    } finally {
      if (base != null) {
        try {
          dev.lamina.fs.RemoveAll.remove(base);
        } catch (IOException ignored) {
          // a probe directory left behind is harmless
        }
      }
    }
  }

  /** Two empty directories and an owner: no copying, whatever the parents hold. */
  @Override
  protected boolean populatesQuickly() {
    return true;
  }

  @Override
  protected void populate(Path dir, Kind kind, List<Long> parentIds) throws IOException {
    Path fs = dir.resolve("fs");
    posix.mkdirExact(fs, 0755);
    if (kind == Kind.ACTIVE) {
      posix.mkdirExact(dir.resolve("work"), 0711);
    }
    if (!parentIds.isEmpty()) {
      FileStat st = posix.lstat(upperPath(parentIds.get(0)));
      posix.lchown(fs, st.uid(), st.gid());
    }
  }

  @Override
  protected List<Mount> mountsOf(Snapshot s) {
    if (s.parentIds().isEmpty()) {
      String ro = s.kind() == Kind.VIEW ? "ro" : "rw";
      return List.of(Mount.of("bind", upperDir(s.id()), List.of(ro, "rbind")));
    }
    List<String> options = new ArrayList<>();
    if (s.kind() == Kind.ACTIVE) {
      options.add("workdir=" + workPath(s.id()));
      options.add("upperdir=" + upperDir(s.id()));
    } else if (s.parentIds().size() == 1) {
      return List.of(Mount.of("bind", upperDir(s.parentIds().get(0)), List.of("ro", "rbind")));
    }
    StringBuilder lower = new StringBuilder("lowerdir=");
    for (int i = 0; i < s.parentIds().size(); i++) {
      if (i > 0) {
        lower.append(':');
      }
      lower.append(upperDir(s.parentIds().get(i)));
    }
    options.add(lower.toString());
    options.addAll(extraOptions);
    return List.of(Mount.of("overlay", "overlay", options));
  }
}
