package dev.lamina.snapshots.storage;

import dev.lamina.errdefs.LaminaException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * containerd's filter syntax ({@code pkg/filters}), used by {@code walk}:
 *
 * <pre>
 * selectors := selector ("," selector)*        all must match
 * selector  := fieldpath (operator value)?     no operator: the field is present
 * fieldpath := field ("." field)*
 * field     := quoted | [A-Za-z0-9_]+
 * operator  := "==" | "!=" | "~="             ~= is an unanchored regular expression
 * value     := quoted | [^\s,]+
 * quoted    := "..." with Go escapes; /.../ and |...| also for ~=
 * </pre>
 *
 * <p>Several filter strings match when any of them does; none matches everything. Examples:
 * {@code kind==active}, {@code labels."containerd.io/gc.root"}, {@code parent!=""},
 * {@code name~=^sha256:}.
 */
public final class Filter {
  /** Looks a field path up on the object being filtered; empty when the field is absent. */
  public interface Adaptor extends Function<List<String>, Optional<String>> {}

  private enum Op { PRESENT, EQUAL, NOT_EQUAL, MATCHES }

  private record Selector(List<String> fieldPath, Op op, String value, Pattern pattern) {
    boolean match(Adaptor a) {
      Optional<String> v = a.apply(fieldPath);
      return switch (op) {
        case PRESENT -> v.isPresent();
        case EQUAL -> v.isPresent() && v.get().equals(value);
        case NOT_EQUAL -> !v.orElse("").equals(value);
        case MATCHES -> pattern.matcher(v.orElse("")).find();
      };
    }
  }

  /** Alternatives (OR) of conjunctions (AND). */
  private final List<List<Selector>> any;

  private Filter(List<List<Selector>> any) {
    this.any = any;
  }

  public static final Filter ALWAYS = new Filter(List.of());

  /** Parses filter strings; any of them must match. INVALID_ARGUMENT on a syntax error. */
  public static Filter parseAll(List<String> filters) throws LaminaException {
    List<List<Selector>> any = new ArrayList<>();
    for (String f : filters) {
      if (f.isEmpty()) {
        return ALWAYS; // an empty filter matches everything, so the disjunction does too
      }
      any.add(new Parser(f).selectors());
    }
    return any.isEmpty() ? ALWAYS : new Filter(List.copyOf(any));
  }

  public boolean match(Adaptor adaptor) {
    if (any.isEmpty()) {
      return true;
    }
    for (List<Selector> all : any) {
      boolean ok = true;
      for (Selector s : all) {
        if (!s.match(adaptor)) {
          ok = false;
          break;
        }
      }
      if (ok) {
        return true;
      }
    }
    return false;
  }

  private static final class Parser {
    private final String in;
    private int pos;

    Parser(String in) {
      this.in = in;
    }

    List<Selector> selectors() throws LaminaException {
      List<Selector> all = new ArrayList<>();
      all.add(selector());
      while (true) {
        skipSpace();
        if (pos >= in.length()) {
          return List.copyOf(all);
        }
        if (in.charAt(pos) != ',') {
          throw error("unexpected input");
        }
        pos++;
        all.add(selector());
      }
    }

    private Selector selector() throws LaminaException {
      List<String> path = new ArrayList<>();
      path.add(field());
      while (true) {
        skipSpace();
        if (pos < in.length() && in.charAt(pos) == '.') {
          pos++;
          path.add(field());
        } else {
          break;
        }
      }
      skipSpace();
      if (pos >= in.length() || in.charAt(pos) == ',') {
        return new Selector(List.copyOf(path), Op.PRESENT, null, null);
      }
      Op op = operator();
      String value = value(op == Op.MATCHES);
      Pattern pattern = null;
      if (op == Op.MATCHES) {
        try {
          pattern = Pattern.compile(value);
        } catch (PatternSyntaxException e) {
          throw error("bad regular expression " + value + ": " + e.getDescription());
        }
      }
      return new Selector(List.copyOf(path), op, value, pattern);
    }

    private String field() throws LaminaException {
      skipSpace();
      if (pos >= in.length()) {
        throw error("expected field or quoted");
      }
      char c = in.charAt(pos);
      if (c == '"') {
        return quoted(false);
      }
      int start = pos;
      while (pos < in.length() && isFieldChar(in.charAt(pos))) {
        pos++;
      }
      if (start == pos) {
        throw error("expected field or quoted");
      }
      return in.substring(start, pos);
    }

    private Op operator() throws LaminaException {
      int start = pos;
      while (pos < in.length() && "=!~".indexOf(in.charAt(pos)) >= 0) {
        pos++;
      }
      return switch (in.substring(start, pos)) {
        case "==" -> Op.EQUAL;
        case "!=" -> Op.NOT_EQUAL;
        case "~=" -> Op.MATCHES;
        default -> {
          pos = start;
          throw error("expected an operator (\"==\"|\"!=\"|\"~=\")");
        }
      };
    }

    private String value(boolean altQuotes) throws LaminaException {
      skipSpace();
      if (pos >= in.length()) {
        throw error("expected value or quoted");
      }
      char c = in.charAt(pos);
      if (c == '"' || ((c == '/' || c == '|') && altQuotes)) {
        return quoted(altQuotes);
      }
      if (c == '/' || c == '|') {
        throw error("invalid quote encountered");
      }
      int start = pos;
      while (pos < in.length()) {
        char v = in.charAt(pos);
        if (v == ',' || Character.isWhitespace(v) || v == 0) {
          break;
        }
        pos++;
      }
      if (start == pos) {
        throw error("expected value or quoted");
      }
      return in.substring(start, pos);
    }

    private String quoted(boolean altQuotes) throws LaminaException {
      char quote = in.charAt(pos++);
      StringBuilder out = new StringBuilder();
      while (true) {
        if (pos >= in.length() || in.charAt(pos) == '\n') {
          throw error("quoted literal not terminated");
        }
        char c = in.charAt(pos++);
        if (c == quote) {
          return out.toString();
        }
        if (c != '\\') {
          out.append(c);
          continue;
        }
        if (pos >= in.length()) {
          throw error("quoted literal not terminated");
        }
        char e = in.charAt(pos++);
        switch (e) {
          case 'a' -> out.append('\u0007');
          case 'b' -> out.append('\b');
          case 'f' -> out.append('\f');
          case 'n' -> out.append('\n');
          case 'r' -> out.append('\r');
          case 't' -> out.append('\t');
          case 'v' -> out.append('\u000b');
          case '\\' -> out.append('\\');
          case 'x' -> out.appendCodePoint(digits(16, 2));
          case 'u' -> out.appendCodePoint(digits(16, 4));
          case 'U' -> out.appendCodePoint(digits(16, 8));
          case '0', '1', '2', '3', '4', '5', '6', '7' -> {
            pos--;
            int v = digits(8, 3);
            if (v > 255) {
              throw error("illegal numeric escape sequence");
            }
            out.append((char) v);
          }
          default -> {
            if (e == quote) {
              out.append(e);
            } else {
              throw error("illegal escape sequence");
            }
          }
        }
      }
    }

    private int digits(int base, int n) throws LaminaException {
      if (pos + n > in.length()) {
        throw error("illegal numeric escape sequence");
      }
      long v = 0;
      for (int i = pos; i < pos + n; i++) {
        int d = Character.digit(in.charAt(i), base);
        if (d < 0) {
          throw error("illegal numeric escape sequence");
        }
        v = v * base + d;
      }
      if (v > Character.MAX_CODE_POINT) {
        throw error("illegal numeric escape sequence");
      }
      pos += n;
      return (int) v;
    }

    private void skipSpace() {
      while (pos < in.length() && Character.isWhitespace(in.charAt(pos))) {
        pos++;
      }
    }

    private static boolean isFieldChar(char c) {
      return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    }

    private LaminaException error(String msg) {
      return LaminaException.invalidArgument("filters: parse error: [" + in + "] at " + pos + ": " + msg);
    }
  }
}
