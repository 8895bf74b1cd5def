package dev.lamina.archive;

import dev.lamina.errdefs.LaminaException;
import java.util.ArrayList;
import java.util.List;

/** Turns a tar entry name into path components that cannot leave the root. */
final class EntryNames {
  private EntryNames() {}

  /**
   * The cleaned components of {@code name}: {@code ./} and empty parts dropped, {@code ..} folded.
   * An absolute name or one whose {@code ..} climbs above the root is rejected; an empty list is
   * the root itself.
   */
  static List<String> components(String name, String what) throws LaminaException {
    if (name.isEmpty()) {
      throw LaminaException.invalidArgument(what + " has an empty name");
    }
    if (name.indexOf('\0') >= 0) {
      throw LaminaException.invalidArgument(what + " \"" + printable(name) + "\": name contains NUL");
    }
    if (name.startsWith("/")) {
      throw LaminaException.invalidArgument(
          what + " \"" + printable(name) + "\": absolute names are not allowed in a layer");
    }
    List<String> parts = new ArrayList<>();
    int start = 0;
    int len = name.length();
    while (start <= len) {
      int slash = name.indexOf('/', start);
      int end = slash < 0 ? len : slash;
      String part = name.substring(start, end);
      if (part.equals("..")) {
        if (parts.isEmpty()) {
          throw LaminaException.invalidArgument(
              what + " \"" + printable(name) + "\": path escapes the root through \"..\"");
        }
        parts.remove(parts.size() - 1);
      } else if (!part.isEmpty() && !part.equals(".")) {
        parts.add(part);
      }
      if (slash < 0) {
        break;
      }
      start = slash + 1;
    }
    return parts;
  }

  static String join(List<String> parts, int from, int to) {
    return String.join("/", parts.subList(from, to));
  }

  static String printable(String s) {
    StringBuilder b = new StringBuilder(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < 0x20 || c == 0x7f) {
        b.append(String.format("\\x%02x", (int) c));
      } else {
        b.append(c);
      }
    }
    return b.toString();
  }
}
