package dev.lamina.config;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * The configuration file that states every option's default, each under its description: what
 * {@code lamina config default} prints. Options without a default are commented out. Reading the
 * text back with {@link ConfigFile} gives the command's defaults.
 */
public final class ConfigTemplate {
  private ConfigTemplate() {}

  public static String render(CommandSpec spec, String header, String... excluded) {
    StringBuilder out = new StringBuilder();
    for (String line : header.split("\n", -1)) {
      out.append(line.isEmpty() ? "#" : "# " + line).append('\n');
    }
    for (Map.Entry<String, OptionSpec> e : OptionDefaults.keys(spec, excluded).entrySet()) {
      OptionSpec option = e.getValue();
      out.append('\n');
      for (String line : description(option)) {
        out.append("# ").append(line).append('\n');
      }
      String value = defaultToml(option);
      if (value == null) {
        out.append("# ").append(e.getKey()).append(" = ").append(example(option)).append('\n');
      } else {
        out.append(e.getKey()).append(" = ").append(value).append('\n');
      }
    }
    return out.toString();
  }

  /**
   * The default as declared, variables such as {@code ${env:NODE_NAME}} not expanded, or null where
   * the option declares none (a field's initial value is no declared default).
   */
  public static String declaredDefault(OptionSpec option) {
    // without a default provider, defaultValueString(false) is the annotation's text, else the
    // initial value's; defaultValue() is the expanded annotation, null where a variable is unset
    String text = option.defaultValueString(false);
    if (option.defaultValue() != null || (text != null && text.contains("${"))) {
      return text;
    }
    return null;
  }

  /** The default as a TOML value, or null where the option has none (or one from the environment). */
  static String defaultToml(OptionSpec option) {
    String raw = declaredDefault(option);
    if (raw != null && raw.contains("${")) {
      return null; // such as ${env:NODE_NAME}: differs per node, so not written into a file
    }
    Object initial = option.initialValue();
    if (option.isMultiValue()) {
      List<String> values = new ArrayList<>();
      if (raw != null) {
        String split = option.splitRegex();
        values.addAll(split == null || split.isEmpty() ? List.of(raw) : List.of(raw.split(split)));
      } else if (initial instanceof Collection<?> c) {
        c.forEach(v -> values.add(String.valueOf(v)));
      } else {
        return null;
      }
      List<String> items = new ArrayList<>();
      for (String v : values) {
        items.add(scalar(OptionDefaults.elementType(option), v));
      }
      return "[" + String.join(", ", items) + "]";
    }
    if (raw != null) {
      return scalar(option.type(), raw);
    }
    if (initial != null && !(initial instanceof Collection)) {
      return scalar(option.type(), String.valueOf(initial));
    }
    return null;
  }

  private static String example(OptionSpec option) {
    String raw = declaredDefault(option);
    String kind = OptionDefaults.kind(option.type());
    String one = switch (kind) {
      case "boolean" -> "false";
      case "integer", "number" -> "0";
      default -> quote(option.paramLabel().startsWith("<") ? "" : option.paramLabel());
    };
    String value = option.isMultiValue() ? "[" + one + "]" : one;
    return raw != null && raw.contains("${") ? value + "    # default: " + raw : value;
  }

  private static String scalar(Class<?> type, String value) {
    return switch (OptionDefaults.kind(type)) {
      case "boolean", "integer", "number" -> value;
      default -> quote(value);
    };
  }

  /** A TOML basic string. */
  static String quote(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        case '\n' -> b.append("\\n");
        case '\t' -> b.append("\\t");
        default -> {
          if (c < 0x20 || c == 0x7f) {
            b.append(String.format("\\u%04x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    return b.append('"').toString();
  }

  private static final Pattern DEFAULT_SENTENCE = Pattern.compile("\\s*Default: \\$\\{DEFAULT-VALUE}\\.?");

  /** The option's description, its "Default: ${DEFAULT-VALUE}" dropped (the line below states it), wrapped. */
  private static List<String> description(OptionSpec option) {
    String text = String.join(" ", option.description());
    text = DEFAULT_SENTENCE.matcher(text).replaceAll("");
    if (option.defaultValue() != null) { // description() comes with ${DEFAULT-VALUE} expanded
      text = text.replace(" Default: " + option.defaultValue() + ".", "");
    }
    text = text.replace("${COMPLETION-CANDIDATES}", String.valueOf(option.completionCandidates()));
    List<String> lines = new ArrayList<>();
    StringBuilder line = new StringBuilder(option.longestName()).append(':');
    for (String word : text.trim().split("\\s+")) {
      if (word.isEmpty()) {
        continue;
      }
      if (line.length() + 1 + word.length() > 96) {
        lines.add(line.toString());
        line.setLength(0);
        line.append(word);
      } else {
        line.append(line.length() == 0 ? "" : " ").append(word);
      }
    }
    lines.add(line.toString());
    return lines;
  }
}
