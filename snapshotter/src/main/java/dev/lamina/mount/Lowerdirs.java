package dev.lamina.mount;

import java.util.ArrayList;
import java.util.List;

/**
 * Shortens an overlay {@code lowerdir=} list that would not fit in the one page mount(2) copies:
 * the dirs become relative to their common parent, and the mount runs with that parent as its
 * working directory (containerd's compactLowerdirOption).
 *
 * @param chdir the common parent, or null when nothing was compacted
 * @param options the options, lowerdir moved to the end with relative paths when compacted
 */
record Lowerdirs(String chdir, List<String> options) {
  static final String PREFIX = "lowerdir=";

  static int optionsSize(List<String> options) {
    int n = 0;
    for (String o : options) {
      n += o.length();
    }
    return n;
  }

  static Lowerdirs compact(List<String> options) {
    int idx = -1;
    for (int i = 0; i < options.size(); i++) {
      if (options.get(i).startsWith(PREFIX)) {
        idx = i;
        break;
      }
    }
    if (idx < 0) {
      return new Lowerdirs(null, options);
    }
    String[] dirs = options.get(idx).substring(PREFIX.length()).split(":", -1);
    if (dirs.length < 2) {
      return new Lowerdirs(null, options);
    }
    String common = longestCommonPrefix(dirs);
    // back up to a directory boundary: snapshot ids are digits, so "snapshots/1" must not be
    // the prefix of "snapshots/12/fs"
    int slash = common.lastIndexOf('/');
    if (slash <= 0) {
      return new Lowerdirs(null, options);
    }
    common = common.substring(0, slash + 1);
    List<String> rel = new ArrayList<>(dirs.length);
    for (String d : dirs) {
      if (d.length() <= common.length()) {
        return new Lowerdirs(null, options);
      }
      rel.add(d.substring(common.length()));
    }
    List<String> out = new ArrayList<>(options);
    out.remove(idx);
    out.add(PREFIX + String.join(":", rel));
    return new Lowerdirs(common, out);
  }

  static String longestCommonPrefix(String[] strs) {
    String min = strs[0];
    String max = strs[0];
    for (String s : strs) {
      if (s.compareTo(min) < 0) {
        min = s;
      }
      if (s.compareTo(max) > 0) {
        max = s;
      }
    }
    int i = 0;
    while (i < min.length() && i < max.length() && min.charAt(i) == max.charAt(i)) {
      i++;
    }
    return min.substring(0, i);
  }
}
