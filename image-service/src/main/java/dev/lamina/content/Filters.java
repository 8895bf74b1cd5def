package dev.lamina.content;

import dev.lamina.errdefs.LaminaException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * containerd's filter syntax, the part the content store needs: a filter is comma-separated
 * conditions that must all hold; a list of filters matches when any one does.
 *
 * <pre>
 *   labels."containerd.io/uncompressed"            the label is set
 *   labels.foo==bar,digest!=sha256:...             both hold
 *   labels.foo~=^b                                 regular expression, found anywhere
 * </pre>
 */
final class Filters {
  private Filters() {}

  /** Resolves a field path (e.g. {@code [labels, foo]}) to its value, empty when absent. */
  interface Fields extends Function<List<String>, Optional<String>> {}

  enum Op {
    PRESENT,
    EQUAL,
    NOT_EQUAL,
    MATCHES
  }

  record Condition(List<String> path, Op op, String value, Pattern pattern) {
    boolean matches(Fields fields) {
      Optional<String> v = fields.apply(path);
      return switch (op) {
        case PRESENT -> v.isPresent();
        case EQUAL -> v.isPresent() && v.get().equals(value);
        case NOT_EQUAL -> v.isEmpty() || !v.get().equals(value);
        case MATCHES -> v.isPresent() && pattern.matcher(v.get()).find();
      };
    }
  }

  record Filter(List<Condition> all) {
    boolean matches(Fields fields) {
      return all.stream().allMatch(c -> c.matches(fields));
    }
  }

  /** Any of {@code filters}; an empty list matches everything. */
  static java.util.function.Predicate<Fields> parseAny(List<String> filters) throws LaminaException {
    List<Filter> parsed = new ArrayList<>();
    for (String f : filters) {
      if (!f.isBlank()) {
        parsed.add(parse(f));
      }
    }
    if (parsed.isEmpty()) {
      return fields -> true;
    }
    return fields -> parsed.stream().anyMatch(f -> f.matches(fields));
  }

  static Filter parse(String text) throws LaminaException {
    return new Parser(text).filter();
  }

  private static final class Parser {
    private final String s;
    private int i;

    Parser(String s) {
      this.s = s;
    }

    Filter filter() throws LaminaException {
      List<Condition> all = new ArrayList<>();
      while (true) {
        skipSpaces();
        all.add(condition());
        skipSpaces();
        if (i == s.length()) {
          return new Filter(all);
        }
        if (s.charAt(i) != ',') {
          throw error("expected ',' or the end");
        }
        i++;
      }
    }

    private Condition condition() throws LaminaException {
      List<String> path = new ArrayList<>();
      path.add(component());
      while (i < s.length() && s.charAt(i) == '.') {
        i++;
        path.add(component());
      }
      skipSpaces();
      if (i == s.length() || s.charAt(i) == ',') {
        return new Condition(List.copyOf(path), Op.PRESENT, null, null);
      }
      Op op;
      if (s.startsWith("==", i)) {
        op = Op.EQUAL;
      } else if (s.startsWith("!=", i)) {
        op = Op.NOT_EQUAL;
      } else if (s.startsWith("~=", i)) {
        op = Op.MATCHES;
      } else {
        throw error("expected ==, != or ~=");
      }
      i += 2;
      skipSpaces();
      String value = value();
      Pattern pattern = null;
      if (op == Op.MATCHES) {
        try {
          pattern = Pattern.compile(value);
        } catch (PatternSyntaxException e) {
          throw error("bad regular expression: " + e.getDescription());
        }
      }
      return new Condition(List.copyOf(path), op, value, pattern);
    }

    private String component() throws LaminaException {
      if (i < s.length() && s.charAt(i) == '"') {
        return quoted();
      }
      int start = i;
      while (i < s.length() && !isDelimiter(s.charAt(i))) {
        i++;
      }
      if (i == start) {
        throw error("expected a field name");
      }
      return s.substring(start, i);
    }

    private String value() throws LaminaException {
      if (i < s.length() && s.charAt(i) == '"') {
        return quoted();
      }
      int start = i;
      while (i < s.length() && s.charAt(i) != ',') {
        i++;
      }
      return s.substring(start, i).strip();
    }

    private String quoted() throws LaminaException {
      StringBuilder b = new StringBuilder();
      i++; // opening quote
      while (i < s.length()) {
        char c = s.charAt(i++);
        if (c == '"') {
          return b.toString();
        }
        if (c == '\\' && i < s.length()) {
          c = s.charAt(i++);
        }
        b.append(c);
      }
      throw error("unterminated quote");
    }

    private static boolean isDelimiter(char c) {
      return c == '.' || c == '=' || c == '!' || c == '~' || c == ',' || c == ' ';
    }

    private void skipSpaces() {
      while (i < s.length() && s.charAt(i) == ' ') {
        i++;
      }
    }

    private LaminaException error(String what) {
      return LaminaException.invalidArgument("invalid filter \"" + s + "\" at " + i + ": " + what);
    }
  }
}
