package dev.lamina.images;

import dev.lamina.archive.Whiteouts;
import dev.lamina.posix.FileStat;
import dev.lamina.posix.Posix;
import dev.lamina.posix.PosixException;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Makes an overlay upper dir that was unpacked without its parents look, once stacked on them,
 * like the layer applied onto the merged tree. Two things differ:
 *
 * <ul>
 *   <li>a directory the tar created only as a parent ({@code a/b/f} with no {@code a/} entry) has
 *       default attributes (0755, the unpacking user) and would shadow those of the same directory
 *       below (a {@code /tmp} losing 1777): it takes the mode, owner and extended attributes
 *       (overlayfs' own {@code trusted.overlay.*} excepted) of the directory the parent chain
 *       shows at that path;
 *   <li>such a directory that nothing below has, holding only whiteouts (0/0 char devices) and
 *       such directories, hides nothing and would show up as an empty phantom directory: it is
 *       removed. Applied onto a merged tree, the whiteouts would have found nothing to remove and
 *       no directory would have been made.
 * </ul>
 *
 * <p>The parent chain is looked up the way overlayfs merges it: lower dirs newest first, a
 * non-directory or a whiteout hides older layers at that path, an opaque directory hides older
 * layers beneath it, and an opaque ancestor in the upper dir hides all of them. Paths are resolved
 * one component at a time with {@code lstat}, so no symlink in any layer is ever followed.
 */
final class ImplicitDirectories {
  private static final byte[] OPAQUE = {'y'};

  private final Posix posix = Posix.get();
  private final Path upper;
  private final List<Path> lowers;
  private final Map<Path, Boolean> opaque = new HashMap<>();
  private List<Path> rootCandidates;

  /**
   * @param upper the upper dir being fixed
   * @param lowers the fs dirs of the parent chain, newest first
   */
  ImplicitDirectories(Path upper, List<Path> lowers) {
    this.upper = upper;
    this.lowers = List.copyOf(lowers);
  }

  /** What {@link #fix} did. */
  record Result(int fixed, int removed) {}

  /** Fixes the implicit directories {@code implicit} (relative, '/'-separated) of the upper dir. */
  Result fix(List<String> implicit) throws IOException {
    List<String> deepestFirst = new ArrayList<>(implicit);
    deepestFirst.sort(Comparator.comparingInt(ImplicitDirectories::depth).reversed()
        .thenComparing(Comparator.reverseOrder()));
    Map<String, Boolean> lostChildren = new HashMap<>();
    int fixed = 0;
    int removed = 0;
    for (String rel : deepestFirst) {
      if (rel.isEmpty()) {
        continue;
      }
      Path dir = upper.resolve(rel);
      Optional<FileStat> st = posix.lstatIfExists(dir);
      if (st.isEmpty() || !st.get().isDirectory() || !isRealDirectoryPath(rel)) {
        continue; // replaced or removed later in the layer
      }
      Optional<Path> below = lookup(rel);
      if (below.isPresent()) {
        copyAttributes(below.get(), dir, st.get());
        fixed++;
      } else if (removePhantom(dir, lostChildren.containsKey(rel))) {
        removed++;
        int slash = rel.lastIndexOf('/');
        lostChildren.put(slash < 0 ? "" : rel.substring(0, slash), true);
      }
    }
    return new Result(fixed, removed);
  }

  /** The directory the parent chain shows at {@code rel}, if any. */
  Optional<Path> lookup(String rel) throws IOException {
    String[] parts = rel.split("/");
    // an opaque directory of the upper dir above rel hides everything below it
    StringBuilder prefix = new StringBuilder();
    if (isOpaque(upper)) {
      return Optional.empty();
    }
    for (int i = 0; i < parts.length - 1; i++) {
      if (i > 0) {
        prefix.append('/');
      }
      prefix.append(parts[i]);
      if (isOpaque(upper.resolve(prefix.toString()))) {
        return Optional.empty();
      }
    }
    List<Path> candidates = rootCandidates();
    Path current = null;
    for (int depth = 0; depth < parts.length && !candidates.isEmpty(); depth++) {
      String sub = String.join("/", Arrays.asList(parts).subList(0, depth + 1));
      List<Path> next = new ArrayList<>();
      for (Path layer : candidates) {
        Path p = layer.resolve(sub);
        Optional<FileStat> st = posix.lstatIfExists(p);
        if (st.isEmpty()) {
          continue;
        }
        if (!st.get().isDirectory()) {
          break; // a file or a whiteout hides this path in every older layer
        }
        next.add(layer);
        if (isOpaque(p)) {
          break;
        }
      }
      candidates = next;
      if (depth == parts.length - 1 && !next.isEmpty()) {
        current = next.get(0).resolve(sub);
      }
    }
    return Optional.ofNullable(current);
  }

  private List<Path> rootCandidates() throws IOException {
    if (rootCandidates == null) {
      List<Path> c = new ArrayList<>();
      for (Path layer : lowers) {
        c.add(layer);
        if (isOpaque(layer)) {
          break;
        }
      }
      rootCandidates = c;
    }
    return rootCandidates;
  }

  private void copyAttributes(Path from, Path to, FileStat current) throws IOException {
    FileStat st = posix.lstat(from);
    if ((st.uid() != current.uid() || st.gid() != current.gid()) && posix.isRoot()) {
      posix.lchown(to, st.uid(), st.gid());
    }
    // after the chown, which may clear set-id bits
    posix.chmod(to, st.permissions());
    for (String name : posix.listxattr(from)) {
      if (name.startsWith(Whiteouts.OVERLAY_XATTR_PREFIX)) {
        continue;
      }
      Optional<byte[]> value = posix.getxattr(from, name);
      if (value.isPresent()) {
        posix.setxattr(to, name, value.get());
      }
    }
  }

  /**
   * Removes {@code dir} when it holds only whiteouts (and held at least one thing, or lost a
   * phantom child), with those whiteouts; an opaque directory is kept, as applying the layer
   * naively makes it too.
   */
  private boolean removePhantom(Path dir, boolean lostChild) throws IOException {
    if (isOpaque(dir)) {
      return false;
    }
    List<Path> whiteouts = new ArrayList<>();
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
      for (Path e : entries) {
        FileStat st = posix.lstat(e);
        if (!st.isOverlayWhiteout()) {
          return false;
        }
        whiteouts.add(e);
      }
    }
    if (whiteouts.isEmpty() && !lostChild) {
      return false;
    }
    for (Path w : whiteouts) {
      posix.unlink(w);
    }
    posix.rmdir(dir);
    return true;
  }

  /** Every ancestor of {@code rel} in the upper dir is a directory, not a symlink. */
  private boolean isRealDirectoryPath(String rel) throws PosixException {
    int slash = rel.indexOf('/');
    while (slash >= 0) {
      Optional<FileStat> st = posix.lstatIfExists(upper.resolve(rel.substring(0, slash)));
      if (st.isEmpty() || !st.get().isDirectory()) {
        return false;
      }
      slash = rel.indexOf('/', slash + 1);
    }
    return true;
  }

  private boolean isOpaque(Path dir) throws IOException {
    Boolean known = opaque.get(dir);
    if (known != null) {
      return known;
    }
    boolean o;
    try {
      o = posix.getxattr(dir, Whiteouts.OVERLAY_OPAQUE_XATTR).map(v -> Arrays.equals(v, OPAQUE)).orElse(false);
    } catch (PosixException e) {
      if (!e.isNotFound() && !e.isNotSupported() && !e.isPermissionDenied()) {
        throw e;
      }
      o = false;
    }
    opaque.put(dir, o);
    return o;
  }

  private static int depth(String rel) {
    int d = 0;
    for (int i = 0; i < rel.length(); i++) {
      if (rel.charAt(i) == '/') {
        d++;
      }
    }
    return d;
  }
}
