package dev.lamina.diff;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/** Directory listings in the one order every comparer walks: by code point, as UTF-8 bytes sort. */
final class Names {
  private Names() {}

  /**
   * Code point order equals the byte order of the UTF-8 names on disk (what Go's sort.Strings and
   * GNU tar use); String.compareTo would put U+10000 and above before U+E000..U+FFFF.
   */
  static final Comparator<String> ORDER = Names::compare;

  static List<String> sorted(Path dir) throws IOException {
    List<String> names = new ArrayList<>();
    try (DirectoryStream<Path> entries = Files.newDirectoryStream(dir)) {
      for (Path entry : entries) {
        names.add(entry.getFileName().toString());
      }
    }
    names.sort(ORDER);
    return names;
  }

  static int compare(String a, String b) {
    int i = 0;
    int j = 0;
    while (i < a.length() && j < b.length()) {
      int ca = a.codePointAt(i);
      int cb = b.codePointAt(j);
      if (ca != cb) {
        return Integer.compare(ca, cb);
      }
      i += Character.charCount(ca);
      j += Character.charCount(cb);
    }
    return Boolean.compare(i < a.length(), j < b.length());
  }

  /** {@code name} inside the directory {@code dir}; the layer root is the empty string. */
  static String child(String dir, String name) {
    return dir.isEmpty() ? name : dir + "/" + name;
  }
}
