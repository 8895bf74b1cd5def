package dev.lamina.mount;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The mount table of this process, read from {@code /proc/self/mountinfo}: the one source of
 * truth for "is anything mounted here", asked before any directory is deleted.
 */
public final class MountInfo {
  private static final Path SELF = Path.of("/proc/self/mountinfo");

  /**
   * One line of mountinfo.
   *
   * @param mountPoint where it is mounted, unescaped
   * @param fsType filesystem type, e.g. {@code overlay}
   * @param source mount source, e.g. {@code overlay} or a device
   * @param superOptions per-superblock options, e.g. {@code rw,lowerdir=...}
   */
  public record Entry(int id, int parentId, String root, Path mountPoint, String mountOptions, String fsType, String source, String superOptions) {}

  private MountInfo() {}

  /** Every mount of this process's namespace, in mount order. */
  public static List<Entry> read() throws IOException {
    return parse(new String(Files.readAllBytes(SELF), StandardCharsets.UTF_8));
  }

  static List<Entry> parse(String text) {
    List<Entry> out = new ArrayList<>();
    for (String line : text.split("\n")) {
      if (line.isBlank()) {
        continue;
      }
      // id parent major:minor root mountpoint options [optional fields...] - fstype source superoptions
      String[] f = line.split(" ");
      int sep = -1;
      for (int i = 6; i < f.length; i++) {
        if (f[i].equals("-")) {
          sep = i;
          break;
        }
      }
      if (sep < 0) {
        continue;
      }
      String fsType = sep + 1 < f.length ? unescape(f[sep + 1]) : "";
      String source = sep + 2 < f.length ? unescape(f[sep + 2]) : "";
      String superOptions = sep + 3 < f.length ? unescape(f[sep + 3]) : "";
      out.add(new Entry(
          Integer.parseInt(f[0]), Integer.parseInt(f[1]), unescape(f[3]), Path.of(unescape(f[4])), f[5], fsType, source, superOptions));
    }
    return out;
  }

  /** Whether {@code dir} itself is a mount point. */
  public static boolean isMountPoint(Path dir) throws IOException {
    Path p = dir.toAbsolutePath().normalize();
    for (Entry e : read()) {
      if (e.mountPoint().equals(p)) {
        return true;
      }
    }
    return false;
  }

  /** Mount points at {@code dir} or anywhere below it, deepest last. */
  public static List<Path> mountsAtOrUnder(Path dir) throws IOException {
    Path p = dir.toAbsolutePath().normalize();
    List<Path> out = new ArrayList<>();
    for (Entry e : read()) {
      if (e.mountPoint().startsWith(p)) {
        out.add(e.mountPoint());
      }
    }
    return out;
  }

  /** The kernel escapes space, tab, newline and backslash as three octal digits. */
  static String unescape(String s) {
    if (s.indexOf('\\') < 0) {
      return s;
    }
    StringBuilder b = new StringBuilder(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '\\' && isOctal(s, i + 1)) {
        b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
        i += 3;
      } else {
        b.append(c);
      }
    }
    return b.toString();
  }

  private static boolean isOctal(String s, int from) {
    if (from + 3 > s.length()) {
      return false;
    }
    for (int i = from; i < from + 3; i++) {
      char c = s.charAt(i);
      if (c < '0' || c > '7') {
        return false;
      }
    }
    return true;
  }
}
