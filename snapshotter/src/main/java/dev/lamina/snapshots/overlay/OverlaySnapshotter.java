package dev.lamina.snapshots.overlay;

import dev.lamina.errdefs.LaminaException;
import dev.lamina.mount.Mount;
import dev.lamina.mount.Mounter;
import dev.lamina.posix.DiskQuota;
import dev.lamina.posix.FileStat;
import dev.lamina.posix.FsXattr;
import dev.lamina.posix.Posix;
import dev.lamina.quota.ProjectQuota;
import dev.lamina.snapshots.Capability;
import dev.lamina.snapshots.Kind;
import dev.lamina.snapshots.Usage;
import dev.lamina.snapshots.storage.DirectorySnapshotter;
import dev.lamina.snapshots.storage.Snapshot;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

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
 *
 * <p>Where the snapshots' filesystem has project quotas ({@link ProjectQuota}), each active
 * snapshot's directory has a project ID of its own and its usage is read from the quota, not
 * walked ({@link #measureActive}).
 */
public final class OverlaySnapshotter extends DirectorySnapshotter {
  private static final Logger LOG = LoggerFactory.getLogger(OverlaySnapshotter.class);
  /** The block device node quotactl is given, {@code <root>/quota-device}; made at every open. */
  private static final String QUOTA_DEVICE = "quota-device";

  private final List<String> extraOptions;
  /** Present when the snapshots' filesystem accounts project quotas. */
  private final Optional<ProjectQuota> quota;

  private OverlaySnapshotter(Path root, List<String> extraOptions) throws IOException {
    super(root);
    this.extraOptions = List.copyOf(extraOptions);
    this.quota = projectQuota(snapshotsDir, this.root.resolve(QUOTA_DEVICE));
  }

  /** Probes the snapshots' filesystem for project quotas and says at start what sizes come from. */
  private static Optional<ProjectQuota> projectQuota(Path snapshotsDir, Path deviceNode) {
    ProjectQuota.Probe probe = ProjectQuota.probe(snapshotsDir, deviceNode);
    if (probe.quota().isEmpty()) {
      LOG.info("container sizes are measured by walking upper dirs: {}", probe.description());
      return Optional.empty();
    }
    Posix posix = Posix.get();
    try {
      FsXattr x = posix.fsGetXattr(snapshotsDir);
      if (x.inheritsProject()) {
        // ext4 and xfs refuse (EXDEV) to rename an entry of another project into a directory that
        // passes its own on, and remove and cleanup rename snapshot directories in snapshots/
        LOG.info("clearing FS_XFLAG_PROJINHERIT on {} (its project ID {} stays the base)", snapshotsDir, x.projectId());
        posix.fsSetXattr(snapshotsDir, x.withoutProjectInheritance());
      }
    } catch (IOException e) {
      LOG.warn("container sizes are measured by walking upper dirs: {}, but {} keeps passing its project ID on: {}",
          probe.description(), snapshotsDir, e.getMessage());
      return Optional.empty();
    }
    LOG.info("container sizes: each active snapshot gets a project ID; {}", probe.description());
    return probe.quota();
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

  /**
   * Whether active snapshots prepared from now on are measured by project quota (the snapshots'
   * filesystem accounts them), not by walking their upper dirs.
   */
  public boolean measuresByProjectQuota() {
    return quota.isPresent();
  }

  /**
   * An active snapshot's directory gets project ID {@code base + id} before its {@code fs} and
   * {@code work} are made in it, so both inherit it: overlayfs makes copied-up files and
   * whiteouts in {@code work} and renames them into {@code fs}, which ext4 and xfs refuse (EXDEV)
   * between directories of different projects. An ID already charged with something (another
   * snapshot root on the same filesystem with the same base, another tool's project) is left
   * alone, and that snapshot is walked.
   */
  @Override
  protected void populateInPlace(Path dir, long id, Kind kind, List<Long> parentIds) throws IOException {
    if (kind == Kind.ACTIVE && quota.isPresent()) {
      Optional<Long> projectId = quota.get().projectId(id);
      if (projectId.isPresent()) {
        DiskQuota charged = quota.get().usage(projectId.get());
        if (charged.inodes() == 0) {
          quota.get().assign(dir, projectId.get());
        } else {
          LOG.warn("project ID {} for snapshot id {} already has {} inodes charged to it elsewhere on the filesystem;"
              + " its size will be measured by walking it (give {} a project ID of its own as base)",
              projectId.get(), id, charged.inodes(), snapshotsDir);
        }
      }
    }
    populate(dir, kind, parentIds);
  }

  /**
   * From quotactl when the snapshot's directory and upper dir carry the project ID of its id:
   * what the project is charged, less what lies outside the upper dir (the snapshot directory
   * itself and the work dir's entries, but not an inode also linked into the upper dir, such as
   * the whiteout overlayfs shares). That is what {@code du -s --block-size=1} and
   * {@code du -s --inodes} count in the upper dir. Otherwise (no project quotas, a snapshot
   * prepared before they were available or by an older version) a walk.
   */
  @Override
  protected Usage measureActive(long id) throws IOException {
    Optional<Long> projectId = quota.flatMap(q -> q.projectId(id));
    if (projectId.isEmpty()) {
      return super.measureActive(id);
    }
    ProjectQuota q = quota.get();
    long pid = projectId.get();
    Path dir = dir(id);
    if (q.projectIdOf(dir) != pid || q.projectIdOf(upperPath(id)) != pid) {
      return super.measureActive(id);
    }
    DiskQuota charged = q.usage(pid);
    long inodes = charged.inodes() - 1;
    long bytes = charged.spaceBytes() - posix.lstat(dir).allocatedBytes();
    for (FileStat st : outsideUpper(workPath(id))) {
      inodes--;
      bytes -= st.allocatedBytes();
    }
    if (inodes < 1 || bytes < 0) {
      // cannot be, unless something else is charged to the project: believe the walk
      LOG.warn("project {} of snapshot id {} is charged less ({} bytes, {} inodes) than lies outside its upper dir;"
          + " walking it", pid, id, charged.spaceBytes(), charged.inodes());
      return super.measureActive(id);
    }
    return new Usage(inodes, bytes);
  }

  /**
   * The work dir and what it holds that no upper dir entry links to: directories and files with
   * one link. A handful of entries (overlayfs's {@code work/work}, a file being copied up).
   */
  private List<FileStat> outsideUpper(Path work) throws IOException {
    List<FileStat> out = new ArrayList<>();
    Optional<FileStat> top = posix.lstatIfExists(work);
    if (top.isEmpty()) {
      return out;
    }
    out.add(top.get());
    ArrayDeque<Path> dirs = new ArrayDeque<>();
    dirs.push(work);
    while (!dirs.isEmpty()) {
      Path d = dirs.pop();
      try (DirectoryStream<Path> entries = Files.newDirectoryStream(d)) {
        for (Path e : entries) {
          Optional<FileStat> st = posix.lstatIfExists(e);
          if (st.isEmpty()) {
            continue; // renamed into the upper dir meanwhile
          }
          if (st.get().isDirectory()) {
            out.add(st.get());
            dirs.push(e);
          } else if (st.get().nlink() <= 1) {
            out.add(st.get());
          }
        }
      } catch (NoSuchFileException e) {
        // a temporary directory overlayfs removed meanwhile
      }
    }
    return out;
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
