package dev.lamina.archive;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.posix.Errno;
import dev.lamina.posix.FileStat;
import dev.lamina.posix.Posix;
import dev.lamina.posix.PosixException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Applies an uncompressed OCI layer tar onto a directory by the image-spec changeset rules.
 *
 * <p>Nothing outside the root is ever created, changed or removed: names are cleaned and may not
 * climb out, parent directories that are symlinks are followed only inside the root (as if the
 * root were {@code /}), the final component of an entry is never followed, and hard links must
 * name a file inside the root.
 *
 * <p>One instance applies one layer; it is not thread-safe.
 */
public final class TarApplier {
  private static final byte[] OPAQUE_VALUE = {'y'};
  private static final String SELINUX_XATTR = "security.selinux";
  private static final int BUFFER = 256 * 1024;

  private final ApplyOptions options;
  private final Posix posix = Posix.get();
  private final byte[] buffer = new byte[BUFFER];

  private Path root;
  private RootedResolver resolver;
  /** Finishes small files beside the entry loop; null on one core. */
  private FileFinisher finisher;
  /** Real paths (relative to the root) written by this layer, and their ancestors. */
  private final Set<String> written = new HashSet<>();
  private final List<String> opaqueDirectories = new ArrayList<>();
  private final Set<String> explicitDirectories = new HashSet<>();
  private final List<DirectoryTimes> directoryTimes = new ArrayList<>();
  private long entries;
  private long contentBytes;

  public TarApplier(ApplyOptions options) {
    this.options = options;
  }

  /** Applies every entry of {@code tar} onto {@code root}, which must be an existing directory. */
  public ApplyStats apply(InputStream tar, Path root) throws IOException {
    this.root = root.toAbsolutePath().normalize();
    FileStat rootStat = posix.lstatIfExists(this.root)
        .orElseThrow(() -> LaminaException.notFound("apply target " + root + " does not exist"));
    if (!rootStat.isDirectory()) {
      throw LaminaException.invalidArgument("apply target " + root + " is not a directory");
    }
    this.resolver = new RootedResolver(this.root, posix);
    TarReader reader = new TarReader(tar);
    finisher = FileFinisher.worthIt() ? new FileFinisher(posix) : null;
    try {
      TarEntry entry;
      while ((entry = reader.next()) != null) {
        try {
          applyEntry(entry, reader.content());
        } catch (LaminaException e) {
          throw e;
        } catch (PosixException e) {
          throw entryFailed(entry, e);
        }
        entries++;
      }
      if (finisher != null) {
        finisher.finish();
      }
    } finally {
      if (finisher != null) {
        finisher.close();
        finisher = null;
      }
    }
    try {
      if (options.whiteouts() == WhiteoutMode.NAIVE) {
        for (String dir : opaqueDirectories) {
          clearOpaque(dir);
        }
      }
      // Parents last: writing a child changes its directory's mtime. Paths are resolved again,
      // without following anything: a later entry may have replaced a directory with a symlink.
      for (int i = directoryTimes.size() - 1; i >= 0; i--) {
        DirectoryTimes d = directoryTimes.get(i);
        Optional<Path> dir = resolver.realDirectory(d.rel());
        if (dir.isPresent()) {
          posix.utimes(dir.get(), d.mtimeNanos(), d.mtimeNanos());
        }
      }
    } catch (PosixException e) {
      throw new LaminaException(kindOf(e), "finishing the layer: " + e.getMessage(), e);
    }
    List<String> implicit = new ArrayList<>();
    for (String dir : resolver.createdDirectories()) {
      if (!explicitDirectories.contains(dir)) {
        implicit.add(dir);
      }
    }
    return new ApplyStats(entries, contentBytes, implicit);
  }

  private void applyEntry(TarEntry entry, InputStream content) throws IOException {
    String what = "tar entry";
    List<String> parts = EntryNames.components(entry.name(), what);
    if (parts.isEmpty()) {
      // The root itself ("./"): only its attributes can change.
      if (entry.type() != TarEntry.Type.DIRECTORY) {
        throw reject(entry, "the root of the layer must be a directory");
      }
      checkXattrs(entry); // the root entry carries xattrs too (trusted.overlay.opaque on an upper dir)
      dropXattrsNotIn(root, entry);
      setAttributes(root, "", entry, true);
      return;
    }
    String base = parts.get(parts.size() - 1);
    List<String> parentParts = parts.subList(0, parts.size() - 1);
    if (base.startsWith(Whiteouts.PREFIX)) {
      applyWhiteout(entry, parentParts, base);
      return;
    }
    RootedResolver.Resolved parent = resolver.resolveDirectory(parentParts, true, entry.name());
    Path target = parent.path().resolve(base);
    String rel = parent.child(base);
    checkXattrs(entry);

    switch (entry.type()) {
      case DIRECTORY -> {
        if (!mkdirMerging(target, rel)) {
          dropXattrsNotIn(target, entry);
        }
        setAttributes(target, rel, entry, true);
        explicitDirectories.add(rel);
      }
      case REGULAR -> writeFile(entry, content, target, rel);
      case SYMLINK -> {
        if (entry.linkName().indexOf('\0') >= 0) {
          throw reject(entry, "symlink target contains NUL");
        }
        create(target, rel, () -> posix.symlink(entry.linkName(), target));
        setAttributes(target, rel, entry, false);
      }
      case HARDLINK -> {
        Path existing = hardLinkTarget(entry);
        if (existing.equals(target)) {
          break; // a link to itself: nothing to do
        }
        create(target, rel, () -> posix.link(existing, target));
      }
      case CHAR_DEVICE, BLOCK_DEVICE -> {
        if (!options.allowDevices()) {
          throw reject(entry, "device nodes are not allowed in this layer");
        }
        int type = entry.type() == TarEntry.Type.CHAR_DEVICE ? FileStat.S_IFCHR : FileStat.S_IFBLK;
        create(target, rel,
            () -> posix.mknod(target, type | (entry.mode() & 0777), entry.devMajor(), entry.devMinor()));
        setAttributes(target, rel, entry, false);
      }
      case FIFO -> {
        create(target, rel, () -> posix.mkfifo(target, entry.mode() & 0777));
        setAttributes(target, rel, entry, false);
      }
      default -> throw reject(entry, "unsupported entry type " + entry.type());
    }
    markWritten(rel);
  }

  private void applyWhiteout(TarEntry entry, List<String> parentParts, String base) throws IOException {
    if (base.equals(Whiteouts.OPAQUE)) {
      RootedResolver.Resolved dir = resolver.resolveDirectory(parentParts, true, entry.name());
      if (options.whiteouts() == WhiteoutMode.OVERLAY) {
        posix.setxattr(dir.path(), Whiteouts.OVERLAY_OPAQUE_XATTR, OPAQUE_VALUE);
      } else {
        opaqueDirectories.add(dir.rel());
      }
      markWritten(dir.rel());
      return;
    }
    if (base.startsWith(Whiteouts.META_PREFIX)) {
      return; // other aufs metadata (.wh..wh.plnk and friends) has no meaning in OCI layers
    }
    String name = base.substring(Whiteouts.PREFIX.length());
    if (name.isEmpty() || name.equals(".") || name.equals("..")) {
      throw reject(entry, "whiteout names no file");
    }
    // A whiteout hides only what lower layers have ("Files that are present in the same layer as a
    // whiteout file can only be hidden by whiteout files in subsequent layers"): what this layer
    // wrote at or beneath the path stays. And beneath a non-directory (umoci writes "d" as a file,
    // then whiteouts for the old "d/x") there is nothing to hide.
    if (options.whiteouts() == WhiteoutMode.NAIVE) {
      Optional<RootedResolver.Resolved> parent = resolver.resolveExistingDirectory(parentParts, entry.name());
      if (parent.isEmpty()) {
        return; // nothing below to hide
      }
      Path target = parent.get().path().resolve(name);
      String rel = parent.get().child(name);
      Optional<FileStat> st = posix.lstatIfExists(target);
      if (st.isEmpty()) {
        return;
      }
      if (written.contains(rel)) {
        if (st.get().isDirectory()) {
          clearOpaque(rel);
        }
        return;
      }
      removeAll(target, st.get());
      return;
    }
    Optional<RootedResolver.Resolved> parent = resolver.resolveDirectoryUnlessBlocked(parentParts, entry.name());
    if (parent.isEmpty()) {
      return; // a non-directory of this layer is on the way and already hides the lower tree
    }
    Path target = parent.get().path().resolve(name);
    String rel = parent.get().child(name);
    if (written.contains(rel)) {
      // this layer's own directory keeps its entries but no longer shows the lower ones
      Optional<FileStat> st = posix.lstatIfExists(target);
      if (st.isPresent() && st.get().isDirectory()) {
        posix.setxattr(target, Whiteouts.OVERLAY_OPAQUE_XATTR, OPAQUE_VALUE);
      }
      return;
    }
    create(target, rel, () -> posix.mknod(target, FileStat.S_IFCHR, 0, 0));
    if (options.sameOwner()) {
      posix.lchown(target, entry.uid(), entry.gid());
    }
    markWritten(rel);
  }

  private void writeFile(TarEntry entry, InputStream content, Path target, String rel) throws IOException {
    if (finisher != null && entry.size() <= FileFinisher.MAX_SIZE && entry.xattrs().isEmpty()) {
      writeSmallFile(entry, content, target, rel);
      return;
    }
    int fd = createReplacing(target, rel);
    boolean ok = false;
    try {
      long left = entry.size();
      while (left > 0) {
        int r = content.read(buffer, 0, (int) Math.min(buffer.length, left));
        if (r < 0) {
          throw LaminaException.invalidArgument("truncated content of " + entry.name());
        }
        posix.write(fd, buffer, r, target);
        left -= r;
        contentBytes += r;
      }
      setAttributes(posix, fd, entry, options.sameOwner(), target);
      ok = true;
    } finally {
      if (ok) {
        posix.close(fd, target);
      } else {
        try {
          posix.close(fd, target);
        } catch (PosixException suppressed) {
          // the first error is the one to report
        }
      }
    }
    for (Map.Entry<String, byte[]> x : entry.xattrs().entrySet()) {
      posix.setxattr(target, x.getKey(), x.getValue());
    }
  }

  /** Reads the content whole, creates the file and hands both to the finisher. */
  private void writeSmallFile(TarEntry entry, InputStream content, Path target, String rel) throws IOException {
    byte[] buf = finisher.buffer();
    boolean handedOver = false;
    try {
      int n = (int) entry.size();
      if (content.readNBytes(buf, 0, n) < n) {
        throw LaminaException.invalidArgument("truncated content of " + entry.name());
      }
      int fd = createReplacing(target, rel);
      contentBytes += n;
      handedOver = true;
      finisher.submit(new FileFinisher.Job(fd, target, entry, buf, options.sameOwner()));
    } finally {
      if (!handedOver) {
        finisher.release(buf);
      }
    }
  }

  /**
   * Owner, mode and times of a regular file, on its descriptor, once its content is written:
   * chown clears setuid and setgid, so the mode comes after it; xattrs set later change only the
   * ctime, so the mtime can be set here.
   */
  static void setAttributes(Posix posix, int fd, TarEntry entry, boolean sameOwner, Path target)
      throws PosixException {
    if (sameOwner) {
      posix.fchown(fd, entry.uid(), entry.gid(), target);
    }
    posix.fchmod(fd, entry.mode(), target);
    posix.futimes(fd, entry.mtimeNanos(), entry.mtimeNanos(), target);
  }

  /** A system call refused for {@code entry}, as the apply reports it. */
  static LaminaException entryFailed(TarEntry entry, PosixException e) {
    return new LaminaException(kindOf(e), "tar entry \"" + EntryNames.printable(entry.name()) + "\": "
        + e.getMessage(), e);
  }

  /** A new empty file at {@code target} (mode 0600 until finished), replacing what is in the way. */
  private int createReplacing(Path target, String rel) throws IOException {
    try {
      return posix.createExclusive(target, 0600);
    } catch (PosixException e) {
      if (e.errno() != Errno.EEXIST) {
        throw e;
      }
      replaceExisting(target, rel);
      return posix.createExclusive(target, 0600);
    }
  }

  /** Creates a directory, or merges with the directory already there; true when it is new. */
  private boolean mkdirMerging(Path target, String rel) throws IOException {
    try {
      posix.mkdir(target, 0755);
      return true;
    } catch (PosixException e) {
      if (e.errno() != Errno.EEXIST) {
        throw e;
      }
    }
    FileStat st = posix.lstat(target);
    if (st.isDirectory()) {
      return false;
    }
    replaceExisting(target, rel);
    posix.mkdir(target, 0755);
    return true;
  }

  private interface Creation {
    void run() throws PosixException;
  }

  /** Runs a creating call; when something is in the way it is removed (never followed) first. */
  private void create(Path target, String rel, Creation creation) throws IOException {
    try {
      creation.run();
    } catch (PosixException e) {
      if (e.errno() != Errno.EEXIST) {
        throw e;
      }
      replaceExisting(target, rel);
      creation.run();
    }
  }

  private void replaceExisting(Path target, String rel) throws IOException {
    FileStat st = posix.lstat(target);
    removeAll(target, st);
  }

  private Path hardLinkTarget(TarEntry entry) throws IOException {
    List<String> parts = EntryNames.components(entry.linkName(), "hard link target of " + entry.name());
    if (parts.isEmpty()) {
      throw reject(entry, "hard link to the root directory");
    }
    RootedResolver.Resolved parent = resolver
        .resolveExistingDirectory(parts.subList(0, parts.size() - 1), entry.name())
        .orElseThrow(() -> reject(entry, "hard link target \"" + entry.linkName() + "\" does not exist"));
    Path existing = parent.path().resolve(parts.get(parts.size() - 1));
    Optional<FileStat> st = posix.lstatIfExists(existing);
    if (st.isEmpty()) {
      throw reject(entry, "hard link target \"" + entry.linkName() + "\" does not exist");
    }
    if (st.get().isDirectory()) {
      throw reject(entry, "hard link target \"" + entry.linkName() + "\" is a directory");
    }
    return existing;
  }

  /** {@code rel}: where {@code target} is below the root, symbolic links resolved ("" for the root). */
  private void setAttributes(Path target, String rel, TarEntry entry, boolean directory) throws IOException {
    if (options.sameOwner()) {
      posix.lchown(target, entry.uid(), entry.gid());
    }
    boolean symlink = entry.type() == TarEntry.Type.SYMLINK;
    if (!symlink) {
      posix.chmod(target, entry.mode());
    }
    for (Map.Entry<String, byte[]> x : entry.xattrs().entrySet()) {
      posix.setxattr(target, x.getKey(), x.getValue());
    }
    if (directory) {
      directoryTimes.add(new DirectoryTimes(rel, entry.mtimeNanos()));
    } else {
      posix.utimes(target, entry.mtimeNanos(), entry.mtimeNanos());
    }
  }

  /**
   * A directory entry describes the whole directory: on one that was already there (a lower
   * layer's, when applying naively) the xattrs the entry does not carry go, as mode and owner are
   * replaced, so naive and overlay application agree. Overlay metadata and the SELinux label
   * belong to the host, not to the layer, and stay.
   */
  private void dropXattrsNotIn(Path dir, TarEntry entry) throws IOException {
    for (String name : posix.listxattr(dir)) {
      if (!entry.xattrs().containsKey(name) && !name.startsWith(Whiteouts.OVERLAY_XATTR_PREFIX)
          && !name.equals(SELINUX_XATTR)) {
        posix.removexattr(dir, name);
      }
    }
  }

  private void checkXattrs(TarEntry entry) throws LaminaException {
    for (String name : entry.xattrs().keySet()) {
      if (name.startsWith(Whiteouts.OVERLAY_XATTR_PREFIX)) {
        // Would let a layer forge overlayfs metadata (opaque dirs, redirects) in an upper dir.
        throw reject(entry, "xattr " + name + " is reserved for overlayfs");
      }
    }
  }

  private void markWritten(String rel) {
    String r = rel;
    while (!r.isEmpty() && written.add(r)) {
      int slash = r.lastIndexOf('/');
      r = slash < 0 ? "" : r.substring(0, slash);
    }
  }

  /** Removes everything under an opaque directory that this layer did not write. */
  private void clearOpaque(String dirRel) throws IOException {
    Optional<Path> real = resolver.realDirectory(dirRel);
    if (real.isEmpty()) {
      return; // replaced by a later entry: nothing of the lower layers is left to hide
    }
    Path dir = real.get();
    List<String> names = listNames(dir);
    for (String name : names) {
      String rel = dirRel.isEmpty() ? name : dirRel + "/" + name;
      Path child = dir.resolve(name);
      FileStat cst = posix.lstat(child);
      if (!written.contains(rel)) {
        removeAll(child, cst);
      } else if (cst.isDirectory()) {
        clearOpaque(rel);
      }
    }
  }

  private static List<String> listNames(Path dir) throws IOException {
    List<String> names = new ArrayList<>();
    try (var stream = java.nio.file.Files.newDirectoryStream(dir)) {
      for (Path p : stream) {
        names.add(p.getFileName().toString());
      }
    }
    return names;
  }

  /** Removes a path and, for a directory, everything below it; never follows symlinks. */
  private void removeAll(Path path, FileStat st) throws IOException {
    if (st.isDirectory()) {
      for (String name : listNames(path)) {
        Path child = path.resolve(name);
        removeAll(child, posix.lstat(child));
      }
      posix.rmdir(path);
    } else {
      posix.unlink(path);
    }
    if (st.isDirectory() || st.isSymlink()) {
      resolver.invalidate();
    }
  }

  private static ErrorKind kindOf(PosixException e) {
    return switch (e.errno()) {
      case Errno.EPERM, Errno.EACCES -> ErrorKind.PERMISSION_DENIED;
      case Errno.ENOENT -> ErrorKind.NOT_FOUND;
      case Errno.EOPNOTSUPP -> ErrorKind.NOT_IMPLEMENTED;
      default -> ErrorKind.INTERNAL;
    };
  }

  private static LaminaException reject(TarEntry entry, String reason) {
    return LaminaException.invalidArgument(
        "tar entry \"" + EntryNames.printable(entry.name()) + "\": " + reason);
  }

  /** A directory's mtime to set at the end, by its path relative to the root. */
  private record DirectoryTimes(String rel, long mtimeNanos) {}
}
