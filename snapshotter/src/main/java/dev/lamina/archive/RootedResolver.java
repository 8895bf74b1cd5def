package dev.lamina.archive;

import dev.lamina.errdefs.LaminaException;
import dev.lamina.posix.FileStat;
import dev.lamina.posix.Posix;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Resolves the parent directories of tar entries as if the root were {@code /}: a symlink on the
 * way is followed, but an absolute target starts again at the root and {@code ..} stops there. So
 * {@code lib -> /usr/lib} followed by {@code lib/x} writes {@code ROOT/usr/lib/x}, never
 * {@code /usr/lib/x}. Results are cached until something that could be on a cached path is
 * removed.
 */
final class RootedResolver {
  private static final int MAX_SYMLINKS = 255;

  /** A directory inside the root: its real path and its path relative to the root. */
  record Resolved(Path path, String rel) {
    String child(String name) {
      return rel.isEmpty() ? name : rel + "/" + name;
    }
  }

  private final Path root;
  private final Posix posix;
  private final Map<String, Resolved> cache = new HashMap<>();
  private final List<String> created = new ArrayList<>();

  RootedResolver(Path root, Posix posix) {
    this.root = root;
    this.posix = posix;
  }

  /** Directories created for entries whose parents the tar did not list, relative to the root. */
  List<String> createdDirectories() {
    return created;
  }

  void invalidate() {
    cache.clear();
  }

  /** Resolves {@code parts} to a directory, creating missing ones with mode 0755. */
  Resolved resolveDirectory(List<String> parts, boolean create, String entryName) throws IOException {
    String key = String.join("/", parts);
    Resolved hit = cache.get(key);
    if (hit != null) {
      return hit;
    }
    Resolved r = resolve(parts, create, entryName);
    if (r != null) {
      cache.put(key, r);
    }
    return r;
  }

  /**
   * Resolves {@code parts} to an existing directory; empty when some component is missing or is
   * not a directory (a whiteout beneath a file that replaced a directory hides nothing).
   */
  Optional<Resolved> resolveExistingDirectory(List<String> parts, String entryName) throws IOException {
    String key = String.join("/", parts);
    Resolved hit = cache.get(key);
    if (hit != null) {
      return Optional.of(hit);
    }
    return Optional.ofNullable(resolve(parts, false, true, entryName));
  }

  /**
   * Like {@link #resolveDirectory} with {@code create}, but empty when some component is an
   * existing non-directory instead of an error: for whiteouts in an overlay upper dir, where such a
   * component was written by this layer and already hides everything the lower layers have below.
   */
  Optional<Resolved> resolveDirectoryUnlessBlocked(List<String> parts, String entryName) throws IOException {
    String key = String.join("/", parts);
    Resolved hit = cache.get(key);
    if (hit != null) {
      return Optional.of(hit);
    }
    Resolved r = resolve(parts, true, true, entryName);
    if (r != null) {
      cache.put(key, r);
    }
    return Optional.ofNullable(r);
  }

  /**
   * The directory at {@code rel} when every component of it is a real directory, never a
   * symlink; empty otherwise. For work replayed after the entries: it must not follow links that
   * later entries planted.
   */
  Optional<Path> realDirectory(String rel) throws IOException {
    Path p = root;
    if (!rel.isEmpty()) {
      for (String part : rel.split("/")) {
        p = p.resolve(part);
        Optional<FileStat> st = posix.lstatIfExists(p);
        if (st.isEmpty() || !st.get().isDirectory()) {
          return Optional.empty();
        }
      }
    }
    return Optional.of(p);
  }

  private Resolved resolve(List<String> parts, boolean create, String entryName) throws IOException {
    return resolve(parts, create, false, entryName);
  }

  private Resolved resolve(List<String> parts, boolean create, boolean nonDirectoryIsEmpty, String entryName)
      throws IOException {
    Deque<String> pending = new ArrayDeque<>(parts);
    List<String> real = new ArrayList<>();
    int links = 0;
    while (!pending.isEmpty()) {
      String part = pending.pollFirst();
      if (part.isEmpty() || part.equals(".")) {
        continue;
      }
      if (part.equals("..")) {
        if (!real.isEmpty()) {
          real.remove(real.size() - 1);
        }
        continue;
      }
      real.add(part);
      Path current = pathOf(real);
      Optional<FileStat> st = posix.lstatIfExists(current);
      if (st.isEmpty()) {
        if (!create) {
          return null;
        }
        posix.mkdir(current, 0755);
        posix.chmod(current, 0755); // mkdir's mode is cut by the process umask
        created.add(String.join("/", real));
        continue;
      }
      FileStat s = st.get();
      if (s.isDirectory()) {
        continue;
      }
      if (s.isSymlink()) {
        if (++links > MAX_SYMLINKS) {
          throw LaminaException.invalidArgument("tar entry \"" + EntryNames.printable(entryName)
              + "\": too many levels of symbolic links below " + String.join("/", real));
        }
        String target = posix.readlink(current);
        real.remove(real.size() - 1);
        if (target.startsWith("/")) {
          real.clear();
        }
        List<String> targetParts = List.of(target.split("/"));
        for (int i = targetParts.size() - 1; i >= 0; i--) {
          pending.addFirst(targetParts.get(i));
        }
        continue;
      }
      if (nonDirectoryIsEmpty) {
        return null;
      }
      throw LaminaException.invalidArgument("tar entry \"" + EntryNames.printable(entryName)
          + "\": parent \"" + String.join("/", real) + "\" is not a directory");
    }
    return new Resolved(pathOf(real), String.join("/", real));
  }

  private Path pathOf(List<String> real) {
    Path p = root;
    for (String part : real) {
      p = p.resolve(part);
    }
    return p;
  }
}
