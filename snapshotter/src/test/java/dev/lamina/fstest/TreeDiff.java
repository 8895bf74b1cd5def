package dev.lamina.fstest;

import dev.lamina.fstest.TreeSnapshot.Entry;
import dev.lamina.fstest.TreeSnapshot.Type;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SortedMap;
import java.util.TreeSet;

/** Renders the differences between two snapshots as lines "path: field expected != actual". */
final class TreeDiff {
  private static final int HASH_CHARS = 12;

  private final SortedMap<String, Entry> expected;
  private final SortedMap<String, Entry> actual;
  /** Entries beneath a directory that is missing (or not a directory) on the other side, per that directory. */
  private final Map<String, Integer> beneath = new HashMap<>();

  private TreeDiff(TreeSnapshot expected, TreeSnapshot actual) {
    this.expected = expected.entries();
    this.actual = actual.entries();
  }

  static List<String> lines(TreeSnapshot expected, TreeSnapshot actual) {
    return new TreeDiff(expected, actual).lines();
  }

  private List<String> lines() {
    TreeSet<String> paths = new TreeSet<>(expected.keySet());
    paths.addAll(actual.keySet());
    // a missing directory implies everything under it: one line for the directory, not one per child
    List<String> reported = new ArrayList<>();
    for (String path : paths) {
      String top = impliedBy(path);
      if (top != null) {
        beneath.merge(top, 1, Integer::sum);
      } else {
        reported.add(path);
      }
    }
    List<String> out = new ArrayList<>();
    for (String path : reported) {
      compare(path, out);
    }
    return out;
  }

  /** The topmost ancestor that is a directory on one side only, when the path sits on that side only. */
  private String impliedBy(String path) {
    boolean inExpected = expected.containsKey(path);
    if (inExpected == actual.containsKey(path)) {
      return null;
    }
    SortedMap<String, Entry> side = inExpected ? expected : actual;
    SortedMap<String, Entry> other = inExpected ? actual : expected;
    for (int slash = path.indexOf('/'); slash >= 0; slash = path.indexOf('/', slash + 1)) {
      String ancestor = path.substring(0, slash);
      Entry there = other.get(ancestor);
      if (side.get(ancestor).type() == Type.DIR && (there == null || there.type() != Type.DIR)) {
        return ancestor;
      }
    }
    return null;
  }

  private void compare(String path, List<String> out) {
    Entry e = expected.get(path);
    Entry a = actual.get(path);
    if (a == null || e == null) {
      Entry only = e == null ? a : e;
      out.add("only in " + (e == null ? "actual" : "expected") + ": " + path + " (" + only.type() + beneathNote(path, "") + ")");
      return;
    }
    if (e.type() != a.type()) {
      String side = e.type() == Type.DIR ? "expected" : "actual";
      out.add(path + ": type " + e.type() + " != " + a.type() + parenthesised(beneathNote(path, " only in " + side)));
      return;
    }
    if (e.permissions() != a.permissions()) {
      out.add(path + ": mode " + FsTree.octal(e.permissions()) + " != " + FsTree.octal(a.permissions()));
    }
    if (!Objects.equals(e.uid(), a.uid()) || !Objects.equals(e.gid(), a.gid())) {
      out.add(path + ": owner " + e.uid() + ":" + e.gid() + " != " + a.uid() + ":" + a.gid());
    }
    if (!Objects.equals(e.size(), a.size()) || !Objects.equals(e.sha256(), a.sha256())) {
      out.add(path + ": content " + content(e) + " != " + content(a));
    }
    if (!Objects.equals(e.linkTarget(), a.linkTarget())) {
      out.add(path + ": symlink target \"" + e.linkTarget() + "\" != \"" + a.linkTarget() + "\"");
    }
    if (!Objects.equals(e.major(), a.major()) || !Objects.equals(e.minor(), a.minor())) {
      out.add(path + ": device " + e.major() + ":" + e.minor() + " != " + a.major() + ":" + a.minor());
    }
    compareXattrs(path, e.xattrs(), a.xattrs(), out);
    if (!Objects.equals(e.hardLinkGroup(), a.hardLinkGroup())) {
      out.add(path + ": hard-link group " + group(e) + " != " + group(a));
    }
    if (!Objects.equals(e.mtimeSeconds(), a.mtimeSeconds())) {
      out.add(path + ": mtime " + e.mtimeSeconds() + " != " + a.mtimeSeconds());
    }
  }

  private static void compareXattrs(String path, SortedMap<String, String> e, SortedMap<String, String> a, List<String> out) {
    TreeSet<String> names = new TreeSet<>(e.keySet());
    names.addAll(a.keySet());
    for (String name : names) {
      String ev = e.get(name);
      String av = a.get(name);
      if (av == null) {
        out.add(path + ": xattr " + name + " only in expected (" + value(ev) + ")");
      } else if (ev == null) {
        out.add(path + ": xattr " + name + " only in actual (" + value(av) + ")");
      } else if (!ev.equals(av)) {
        out.add(path + ": xattr " + name + " " + value(ev) + " != " + value(av));
      }
    }
  }

  private String beneathNote(String path, String where) {
    Integer n = beneath.get(path);
    return n == null ? "" : ", " + n + (n == 1 ? " entry" : " entries") + " beneath" + where;
  }

  private static String parenthesised(String note) {
    return note.isEmpty() ? "" : " (" + note.substring(2) + ")";
  }

  private static String content(Entry e) {
    String hash = e.sha256() == null ? "?" : e.sha256().substring(0, HASH_CHARS);
    return e.size() + " bytes sha256:" + hash;
  }

  private static String group(Entry e) {
    return e.hardLinkGroup() == null ? "(none)" : e.hardLinkGroup();
  }

  private static String value(String hex) {
    return FsTree.preview(HexFormat.of().parseHex(hex));
  }
}
