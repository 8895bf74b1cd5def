package dev.lamina.services;

import dev.lamina.errdefs.LaminaException;
import dev.lamina.mount.Mount;
import dev.lamina.snapshots.Info;
import dev.lamina.snapshots.Kind;
import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.Usage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * Test double: containerd's snapshotter semantics with metadata in memory and copying snapshots
 * on disk (each snapshot a full tree under {@code root/N/fs}, mounted as a bind), for testing the
 * gRPC services while the real snapshotters are built. Filters: {@code kind==K}, {@code name==N},
 * {@code parent==P}, {@code labels."K"==V}; all must match.
 */
final class InMemorySnapshotter implements Snapshotter {
  private record Snap(int id, Info info) {}

  private final Path root;
  private final Map<String, Snap> snaps = new LinkedHashMap<>();
  private int nextId = 1;

  InMemorySnapshotter(Path root) {
    this.root = root;
  }

  Path dir(String key) throws IOException {
    return root.resolve(Integer.toString(get(key).id())).resolve("fs");
  }

  @Override
  public synchronized Info stat(String key) throws IOException {
    return get(key).info();
  }

  @Override
  public synchronized Info update(Info info, List<String> fieldPaths) throws IOException {
    Snap s = get(info.name());
    Map<String, String> labels = new TreeMap<>(s.info().labels());
    if (fieldPaths.isEmpty()) {
      labels = new TreeMap<>(info.labels());
    }
    for (String p : fieldPaths) {
      if (p.equals("labels")) {
        labels = new TreeMap<>(info.labels());
      } else if (p.startsWith("labels.")) {
        String k = p.substring("labels.".length());
        if (info.labels().containsKey(k)) {
          labels.put(k, info.labels().get(k));
        } else {
          labels.remove(k);
        }
      } else {
        throw LaminaException.invalidArgument("cannot update " + p + " of snapshot " + info.name());
      }
    }
    Info old = s.info();
    Info updated = new Info(old.kind(), old.name(), old.parent(), labels, old.created(), Instant.now());
    snaps.put(old.name(), new Snap(s.id(), updated));
    return updated;
  }

  @Override
  public synchronized Usage usage(String key) throws IOException {
    Path fs = dir(key);
    long[] acc = new long[2];
    try (Stream<Path> all = Files.walk(fs)) {
      all.forEach(p -> {
        acc[0]++;
        try {
          acc[1] += Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS) ? Files.size(p) : 0;
        } catch (IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      });
    }
    return new Usage(acc[0], acc[1]);
  }

  @Override
  public synchronized List<Mount> mounts(String key) throws IOException {
    Snap s = get(key);
    if (s.info().kind() == Kind.COMMITTED) {
      throw LaminaException.failedPrecondition("snapshot " + key + " is committed: no mounts");
    }
    return mountsOf(s);
  }

  @Override
  public synchronized List<Mount> prepare(String key, String parent, Map<String, String> labels) throws IOException {
    return create(Kind.ACTIVE, key, parent, labels);
  }

  @Override
  public synchronized List<Mount> view(String key, String parent, Map<String, String> labels) throws IOException {
    return create(Kind.VIEW, key, parent, labels);
  }

  private List<Mount> create(Kind kind, String key, String parent, Map<String, String> labels) throws IOException {
    if (key == null || key.isEmpty()) {
      throw LaminaException.invalidArgument("snapshot key is empty");
    }
    if (snaps.containsKey(key)) {
      throw LaminaException.alreadyExists("snapshot " + key + ": already exists");
    }
    Path parentDir = null;
    if (!parent.isEmpty()) {
      Snap p = snaps.get(parent);
      if (p == null) {
        throw LaminaException.notFound("parent snapshot " + parent + ": not found");
      }
      if (p.info().kind() != Kind.COMMITTED) {
        throw LaminaException.failedPrecondition("parent " + parent + " is not committed");
      }
      parentDir = dir(parent);
    }
    int id = nextId++;
    Path fs = root.resolve(Integer.toString(id)).resolve("fs");
    Files.createDirectories(fs);
    if (parentDir != null) {
      copy(parentDir, fs);
    }
    Instant now = Instant.now();
    Snap s = new Snap(id, new Info(kind, key, parent, labels, now, now));
    snaps.put(key, s);
    return mountsOf(s);
  }

  @Override
  public synchronized void commit(String name, String key, String parent, Map<String, String> labels)
      throws IOException {
    Snap s = get(key);
    if (s.info().kind() != Kind.ACTIVE) {
      throw LaminaException.failedPrecondition("snapshot " + key + " is not active");
    }
    if (snaps.containsKey(name)) {
      throw LaminaException.alreadyExists("snapshot " + name + ": already exists");
    }
    String newParent = s.info().parent();
    if (parent != null && !parent.isEmpty()) {
      Snap p = snaps.get(parent);
      if (p == null) {
        throw LaminaException.notFound("parent snapshot " + parent + ": not found");
      }
      if (p.info().kind() != Kind.COMMITTED) {
        throw LaminaException.failedPrecondition("parent " + parent + " is not committed");
      }
      newParent = parent;
    }
    snaps.remove(key);
    Instant now = Instant.now();
    snaps.put(name, new Snap(s.id(), new Info(Kind.COMMITTED, name, newParent, labels, now, now)));
  }

  @Override
  public synchronized void remove(String key) throws IOException {
    get(key);
    for (Snap s : snaps.values()) {
      if (s.info().parent().equals(key)) {
        throw LaminaException.failedPrecondition("cannot remove snapshot " + key + ": it has children");
      }
    }
    snaps.remove(key);
  }

  @Override
  public void walk(Consumer<Info> fn, List<String> filters) throws IOException {
    List<Info> all;
    synchronized (this) {
      all = new ArrayList<>();
      for (Snap s : snaps.values()) {
        if (matches(s.info(), filters)) {
          all.add(s.info());
        }
      }
    }
    all.forEach(fn);
  }

  @Override
  public void cleanup() {}

  @Override
  public void close() {}

  private static boolean matches(Info info, List<String> filters) throws LaminaException {
    return dev.lamina.snapshots.storage.Filter.parseAll(filters)
        .match(path -> dev.lamina.snapshots.storage.Transaction.field(info, path));
  }

  private Snap get(String key) throws LaminaException {
    Snap s = snaps.get(key);
    if (s == null) {
      throw LaminaException.notFound("snapshot " + key + ": not found");
    }
    return s;
  }

  private List<Mount> mountsOf(Snap s) {
    String fs = root.resolve(Integer.toString(s.id())).resolve("fs").toString();
    return List.of(Mount.of("bind", fs, List.of(s.info().kind() == Kind.VIEW ? "ro" : "rw", "rbind")));
  }

  private static void copy(Path from, Path to) throws IOException {
    try (Stream<Path> all = Files.walk(from)) {
      for (Path p : (Iterable<Path>) all::iterator) {
        Path target = to.resolve(from.relativize(p).toString());
        if (p.equals(from)) {
          continue;
        }
        Files.copy(p, target, StandardCopyOption.COPY_ATTRIBUTES, LinkOption.NOFOLLOW_LINKS);
      }
    }
  }
}
