package dev.lamina.remotes.auth;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One challenge of a {@code WWW-Authenticate} header (RFC 7235): {@code Bearer
 * realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"}
 * or {@code Basic realm="Registry"}.
 *
 * @param scheme lower case: {@code bearer}, {@code basic} ...
 * @param params parameter names in lower case, values unquoted
 */
public record AuthChallenge(String scheme, Map<String, String> params) {
  public AuthChallenge {
    scheme = scheme.toLowerCase(Locale.ROOT);
    params = Collections.unmodifiableMap(new LinkedHashMap<>(params));
  }

  public boolean isBearer() {
    return scheme.equals("bearer");
  }

  public boolean isBasic() {
    return scheme.equals("basic");
  }

  public String param(String name) {
    return params.getOrDefault(name, "");
  }

  public String realm() {
    return param("realm");
  }

  public String service() {
    return param("service");
  }

  /** Space-separated scopes, as the challenge names them; empty when none. */
  public String scope() {
    return param("scope");
  }

  /** {@code error}, e.g. {@code invalid_token} or {@code insufficient_scope}. */
  public String error() {
    return param("error");
  }

  /**
   * Parses every challenge of every given header value. Quoted strings may hold commas, spaces and
   * backslash escapes; several challenges may share one header. Malformed parts are skipped.
   */
  public static List<AuthChallenge> parse(List<String> headerValues) {
    List<AuthChallenge> out = new ArrayList<>();
    for (String v : headerValues) {
      new Parser(v).parseInto(out);
    }
    return out;
  }

  public static List<AuthChallenge> parse(String headerValue) {
    return parse(List.of(headerValue));
  }

  private static final class Parser {
    private final String s;
    private int pos;

    Parser(String s) {
      this.s = s == null ? "" : s;
    }

    void parseInto(List<AuthChallenge> out) {
      while (true) {
        skipSeparators();
        if (pos >= s.length()) {
          return;
        }
        String scheme = token();
        if (scheme.isEmpty()) {
          pos++; // junk: skip one character
          continue;
        }
        Map<String, String> params = new LinkedHashMap<>();
        // auth-params: name = value, separated by commas, until a token that is not followed by '='
        while (true) {
          int save = pos;
          skipSeparators();
          String name = token();
          skipSpaces();
          if (name.isEmpty() || pos >= s.length() || s.charAt(pos) != '=') {
            // token68 (name followed by '='s and nothing else) or the next challenge
            if (!name.isEmpty() && pos < s.length() && s.charAt(pos) == '=') {
              continue;
            }
            pos = save;
            break;
          }
          pos++; // '='
          skipSpaces();
          String value = pos < s.length() && s.charAt(pos) == '"' ? quoted() : bareValue();
          params.putIfAbsent(name.toLowerCase(Locale.ROOT), value);
          skipSpaces();
          if (pos < s.length() && s.charAt(pos) != ',') {
            // a token68 tail or garbage: skip to the next comma
            while (pos < s.length() && s.charAt(pos) != ',') {
              pos++;
            }
          }
        }
        out.add(new AuthChallenge(scheme, params));
        // Anything left that is not a separator or a new scheme is skipped by the loop.
        skipSpaces();
        if (pos < s.length() && s.charAt(pos) != ',' && !isTokenChar(s.charAt(pos))) {
          pos++;
        }
      }
    }

    private void skipSpaces() {
      while (pos < s.length() && (s.charAt(pos) == ' ' || s.charAt(pos) == '\t')) {
        pos++;
      }
    }

    private void skipSeparators() {
      while (pos < s.length()
          && (s.charAt(pos) == ' ' || s.charAt(pos) == '\t' || s.charAt(pos) == ',')) {
        pos++;
      }
    }

    private String token() {
      int start = pos;
      while (pos < s.length() && isTokenChar(s.charAt(pos))) {
        pos++;
      }
      return s.substring(start, pos);
    }

    /** A token; leniently also an unquoted URL, up to the next comma or space. */
    private String bareValue() {
      int start = pos;
      while (pos < s.length() && s.charAt(pos) != ',' && s.charAt(pos) > ' ') {
        pos++;
      }
      return s.substring(start, pos);
    }

    private String quoted() {
      StringBuilder sb = new StringBuilder();
      pos++; // opening quote
      while (pos < s.length()) {
        char c = s.charAt(pos++);
        if (c == '\\' && pos < s.length()) {
          sb.append(s.charAt(pos++));
        } else if (c == '"') {
          return sb.toString();
        } else {
          sb.append(c);
        }
      }
      return sb.toString(); // unterminated: take what there is
    }

    private static boolean isTokenChar(char c) {
      if (c <= ' ' || c >= 127) {
        return false;
      }
      return "()<>@,;:\\\"/[]?={}".indexOf(c) < 0;
    }
  }
}
