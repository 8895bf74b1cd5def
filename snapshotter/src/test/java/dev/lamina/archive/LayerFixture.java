package dev.lamina.archive;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Assumptions;

/**
 * Test support: layer tars as data. Each {@link Item} is one tar entry (with its content); {@link
 * #tar} writes them with {@link TarWriter}, and {@link #run} drives independent writers and
 * readers such as GNU tar.
 *
 * <pre>{@code
 * byte[] layer = LayerFixture.tar(
 *     dirEntry("etc/", 0755),
 *     fileEntry("etc/passwd", "root:x:0:0", 0644).owner(0, 0),
 *     whiteout("etc/shadow"),
 *     opaque("var/cache"));
 * }</pre>
 *
 * <p>Defaults: owner 0:0, mtime {@link #T}.
 */
public final class LayerFixture {
  /** 2023-11-14T22:13:20Z in nanoseconds: whole seconds, which is what a tar keeps. */
  public static final long T = 1_700_000_000_000_000_000L;

  private LayerFixture() {}

  /** One tar entry and, for a regular file, its content. */
  public record Item(TarEntry entry, byte[] content) {
    public Item {
      content = content.clone();
    }

    @Override
    public byte[] content() {
      return content.clone();
    }

    public Item owner(int uid, int gid) {
      TarEntry e = entry;
      return new Item(new TarEntry(e.name(), e.type(), e.mode(), uid, gid, e.uname(), e.gname(), e.size(),
          e.mtimeNanos(), e.linkName(), e.devMajor(), e.devMinor(), e.xattrs()), content);
    }

    public Item mtime(long nanos) {
      TarEntry e = entry;
      return new Item(new TarEntry(e.name(), e.type(), e.mode(), e.uid(), e.gid(), e.uname(), e.gname(), e.size(),
          nanos, e.linkName(), e.devMajor(), e.devMinor(), e.xattrs()), content);
    }

    public Item xattr(String name, byte[] value) {
      Map<String, byte[]> x = new TreeMap<>(entry.xattrs());
      x.put(name, value.clone());
      return new Item(entry.withXattrs(x), content);
    }

    public Item xattr(String name, String value) {
      return xattr(name, value.getBytes(StandardCharsets.UTF_8));
    }
  }

  public static Item dirEntry(String name, int mode) {
    return new Item(TarEntry.directory(name, mode, 0, 0, T), new byte[0]);
  }

  public static Item fileEntry(String name, String content, int mode) {
    return fileEntry(name, content.getBytes(StandardCharsets.UTF_8), mode);
  }

  public static Item fileEntry(String name, byte[] content, int mode) {
    return new Item(TarEntry.file(name, content.length, mode, 0, 0, T), content);
  }

  public static Item symlinkEntry(String name, String target) {
    return special(name, TarEntry.Type.SYMLINK, 0777, target, 0, 0);
  }

  /** A hard link at {@code name} to the earlier entry (or lower file) {@code target}. */
  public static Item hardlinkEntry(String name, String target) {
    return special(name, TarEntry.Type.HARDLINK, 0644, target, 0, 0);
  }

  public static Item chardevEntry(String name, int major, int minor, int mode) {
    return special(name, TarEntry.Type.CHAR_DEVICE, mode, "", major, minor);
  }

  public static Item blockdevEntry(String name, int major, int minor, int mode) {
    return special(name, TarEntry.Type.BLOCK_DEVICE, mode, "", major, minor);
  }

  public static Item fifoEntry(String name, int mode) {
    return special(name, TarEntry.Type.FIFO, mode, "", 0, 0);
  }

  /** The OCI whiteout for {@code path}: an empty file {@code .wh.<base>} beside it. */
  public static Item whiteout(String path) {
    int slash = path.lastIndexOf('/');
    return fileEntry(path.substring(0, slash + 1) + Whiteouts.PREFIX + path.substring(slash + 1), "", 0644);
  }

  /** The opaque marker of directory {@code dir} ("" for the root). */
  public static Item opaque(String dir) {
    return fileEntry(dir.isEmpty() ? Whiteouts.OPAQUE : dir + "/" + Whiteouts.OPAQUE, "", 0644);
  }

  private static Item special(String name, TarEntry.Type type, int mode, String link, int major, int minor) {
    return new Item(new TarEntry(name, type, mode, 0, 0, "", "", 0, T, link, major, minor, new TreeMap<>()),
        new byte[0]);
  }

  public static byte[] tar(Item... items) {
    return tar(List.of(items));
  }

  /** The items written by {@link TarWriter}, end marker included. */
  public static byte[] tar(List<Item> items) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (TarWriter writer = new TarWriter(out)) {
      for (Item item : items) {
        writer.write(item.entry(), new ByteArrayInputStream(item.content()));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  /** Applies an uncompressed layer onto {@code root} with {@link TarApplier}. */
  public static ApplyStats apply(byte[] tar, Path root, ApplyOptions options) throws IOException {
    return new TarApplier(options).apply(new ByteArrayInputStream(tar), root);
  }

  /** Every entry of a tar as read back by {@link TarReader}, with its content. */
  public static List<Item> read(byte[] tar) throws IOException {
    List<Item> items = new ArrayList<>();
    TarReader reader = new TarReader(new ByteArrayInputStream(tar));
    TarEntry e;
    while ((e = reader.next()) != null) {
      items.add(new Item(e, reader.content().readAllBytes()));
    }
    return items;
  }

  /**
   * GNU tar's archive of {@code members} under {@code dir} with numeric owners, in the given
   * format: "posix" (PAX headers, xattrs included) or "gnu" (L/K long-name records and base-256
   * numbers; GNU tar stores no xattrs in that format).
   */
  public static byte[] gnuTar(Path dir, String format, String... members) throws IOException {
    List<String> command = new ArrayList<>(List.of("tar", "--numeric-owner", "--format=" + format));
    if (format.equals("posix")) {
      command.addAll(List.of("--xattrs", "--xattrs-include=*"));
    }
    command.addAll(List.of("-C", dir.toString(), "-cf", "-", "--"));
    command.addAll(List.of(members));
    return run(null, command.toArray(String[]::new));
  }

  /** Runs a program, feeding {@code stdin} (may be null), and returns its stdout; fails on a non-zero exit. */
  public static byte[] run(byte[] stdin, String... command) throws IOException {
    ProcessBuilder pb = new ProcessBuilder(command);
    pb.environment().put("LC_ALL", "C.UTF-8");
    if (stdin == null) {
      pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
    }
    Process p = pb.start();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    Thread errReader = new Thread(() -> copyQuietly(p.getErrorStream(), err));
    errReader.start();
    Thread feeder = null;
    if (stdin != null) {
      feeder = new Thread(() -> {
        try (OutputStream o = p.getOutputStream()) {
          o.write(stdin);
        } catch (IOException ignored) {
          // the exit status says what went wrong
        }
      });
      feeder.start();
    }
    byte[] out = p.getInputStream().readAllBytes();
    try {
      int status = p.waitFor();
      errReader.join();
      if (feeder != null) {
        feeder.join();
      }
      if (status != 0) {
        throw new IOException(String.join(" ", command) + " exited with " + status + ": "
            + err.toString(StandardCharsets.UTF_8));
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted running " + command[0], e);
    }
    return out;
  }

  /** Skips the test unless every program is installed (scripts/test-packages.txt lists them). */
  public static void assumePrograms(String... names) {
    for (String name : names) {
      Assumptions.assumeTrue(findProgram(name), () -> "needs the program " + name + " (Debian package in "
          + "scripts/test-packages.txt)");
    }
  }

  /** Skips the test unless the kernel offers overlayfs. */
  public static void assumeOverlayfs() throws IOException {
    boolean overlay = Files.readAllLines(Path.of("/proc/filesystems")).stream()
        .anyMatch(l -> l.endsWith("\toverlay"));
    Assumptions.assumeTrue(overlay, "needs overlayfs in /proc/filesystems");
  }

  private static boolean findProgram(String name) {
    String path = System.getenv().getOrDefault("PATH", "") + ":/usr/sbin:/sbin";
    for (String dir : path.split(":")) {
      if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, name))) {
        return true;
      }
    }
    return false;
  }

  public static String runText(byte[] stdin, String... command) throws IOException {
    return new String(run(stdin, command), StandardCharsets.UTF_8);
  }

  private static void copyQuietly(InputStream in, OutputStream out) {
    try (in) {
      in.transferTo(out);
    } catch (IOException ignored) {
      // the process is gone
    }
  }
}
