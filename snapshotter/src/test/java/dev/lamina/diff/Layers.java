package dev.lamina.diff;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.archive.TarEntry;
import dev.lamina.archive.TarReader;
import dev.lamina.compression.Compression;
import dev.lamina.posix.FileStat;
import dev.lamina.posix.Posix;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** Test support: run a comparer into memory and read the layer back. */
final class Layers {
  private Layers() {}

  /** A layer as written: the result, the blob bytes, and its entries read back. */
  record Written(DiffResult result, byte[] blob, List<Item> items) {
    List<String> names() {
      return items.stream().map(i -> i.entry().name()).toList();
    }

    Item item(String name) {
      return items.stream().filter(i -> i.entry().name().equals(name)).findFirst()
          .orElseThrow(() -> new AssertionError(name + " not in " + names()));
    }

    InputStream uncompressed() throws IOException {
      return Compression.decompress(new ByteArrayInputStream(blob));
    }
  }

  record Item(TarEntry entry, byte[] content) {
    String text() {
      return new String(content, StandardCharsets.UTF_8);
    }
  }

  static Written walk(Path lower, Path upper) throws IOException {
    return walk(lower, upper, Compression.NONE);
  }

  static Written walk(Path lower, Path upper, Compression compression) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    DiffResult result = new WalkingComparer().compare(lower, upper, compression, out);
    return written(result, out.toByteArray());
  }

  static Written overlay(Path upperdir) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    DiffResult result = new OverlayUpperComparer().compare(upperdir, Compression.NONE, out);
    return written(result, out.toByteArray());
  }

  static Written written(DiffResult result, byte[] blob) throws IOException {
    return new Written(result, blob, read(blob));
  }

  static List<Item> read(byte[] blob) throws IOException {
    List<Item> items = new ArrayList<>();
    try (InputStream in = Compression.decompress(new ByteArrayInputStream(blob))) {
      TarReader reader = new TarReader(in);
      TarEntry e;
      while ((e = reader.next()) != null) {
        items.add(new Item(e, reader.content().readAllBytes()));
      }
    }
    return items;
  }

  /**
   * What every layer must satisfy: no name twice, every entry's parent directory entry written
   * before it (the root excepted), directory names ending in '/', and nothing of overlayfs' own.
   */
  static void assertWellFormed(Written layer) {
    Set<String> seen = new HashSet<>();
    for (Item item : layer.items()) {
      TarEntry e = item.entry();
      String name = e.name();
      assertThat(seen.add(name)).as("duplicate entry %s", name).isTrue();
      assertThat(name).doesNotStartWith("/").doesNotStartWith("./");
      assertThat(name.endsWith("/")).as("directory slash on %s", name).isEqualTo(e.type() == TarEntry.Type.DIRECTORY);
      String bare = name.endsWith("/") ? name.substring(0, name.length() - 1) : name;
      int slash = bare.lastIndexOf('/');
      if (slash > 0) {
        assertThat(seen).as("parent of %s written before it", name).contains(bare.substring(0, slash + 1));
      }
      assertThat(e.xattrs().keySet()).noneMatch(k -> k.startsWith("trusted.overlay."));
      if (e.type() == TarEntry.Type.HARDLINK) {
        assertThat(seen).as("hard link target of %s written before it", name).contains(e.linkName());
      }
    }
  }

  /** Entries in walk order: components compared one by one, parents before children. */
  static void assertWalkOrder(List<String> names) {
    for (int i = 1; i < names.size(); i++) {
      assertThat(walkCompare(names.get(i - 1), names.get(i)))
          .as("%s before %s", names.get(i - 1), names.get(i)).isNegative();
    }
  }

  private static int walkCompare(String a, String b) {
    // -1 keeps the empty last component of an opaque marker: it sorts first inside its directory
    String[] pa = original(a).split("/", -1);
    String[] pb = original(b).split("/", -1);
    for (int i = 0; i < Math.min(pa.length, pb.length); i++) {
      int c = Names.compare(pa[i], pb[i]);
      if (c != 0) {
        return c;
      }
    }
    return Integer.compare(pa.length, pb.length);
  }

  /** A whiteout sorts where the path it removes was; the opaque marker first in its directory. */
  private static String original(String name) {
    String bare = name.endsWith("/") ? name.substring(0, name.length() - 1) : name;
    int slash = bare.lastIndexOf('/');
    String base = bare.substring(slash + 1);
    if (base.equals(".wh..wh..opq")) {
      base = "";
    } else if (base.startsWith(".wh.")) {
      base = base.substring(4);
    }
    return bare.substring(0, slash + 1) + base;
  }

  /** {@code cp -a}: keeps inodes shared, xattrs, owners and nanosecond times. */
  static void copyTree(Path from, Path to) throws IOException {
    run("cp", "-a", "--", from.toString(), to.toString());
  }

  static void run(String... command) throws IOException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    try {
      String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (p.waitFor() != 0) {
        throw new IOException(String.join(" ", command) + " failed: " + output);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
  }

  /** Sets every mtime under {@code root} (not the root itself) to {@code nanos}, children first. */
  static void pinMtimes(Path root, long nanos) throws IOException {
    List<Path> children = new ArrayList<>();
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(root)) {
      ds.forEach(children::add);
    }
    for (Path child : children) {
      FileStat st = Posix.get().lstat(child);
      if (st.isDirectory()) {
        pinMtimes(child, nanos);
      }
      Posix.get().utimes(child, nanos, nanos);
    }
  }
}
