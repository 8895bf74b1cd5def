package dev.lamina.config;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;
import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * A configuration file as picocli default values: every long option of a command (its mixins'
 * included) is a key, so an option added later is a key with no code here, and a flag given on the
 * command line overrides the file because picocli applies defaults only to options not given.
 */
public final class OptionDefaults implements CommandLine.IDefaultValueProvider {
  /** Joins a list's values; no command-line argument can hold it, so no flag is split by it. */
  private static final String LIST_SEPARATOR = "\u0000";

  private final ConfigFile file;
  private final Map<String, String> defaults;

  private OptionDefaults(ConfigFile file, Map<String, String> defaults) {
    this.file = file;
    this.defaults = defaults;
  }

  /**
   * Checks {@code file} against the options of {@code command} and makes it the command's default
   * values. A key that names no option, or a value of the wrong type, fails naming the key and the
   * file. {@code excluded} are options that are no keys (the one that names the file).
   */
  public static OptionDefaults install(CommandLine command, ConfigFile file, String... excluded)
      throws ConfigException {
    CommandSpec spec = command.getCommandSpec();
    Map<String, OptionSpec> keys = keys(spec, excluded);
    Map<String, String> defaults = new HashMap<>();
    for (Map.Entry<String, Object> e : file.values().entrySet()) {
      String key = e.getKey();
      OptionSpec option = keys.get(key);
      if (option == null) {
        throw new ConfigException(file.path() + ": unknown key '" + key + "' (no option --" + key
            + "; `lamina config default` lists the keys)");
      }
      Object value = e.getValue();
      if (option.isMultiValue()) {
        if (!(value instanceof List<?> list)) {
          throw wrongType(file, key, "a list of " + kind(elementType(option)), value);
        }
        for (Object element : list) {
          check(file, key, elementType(option), element);
        }
        if (list.isEmpty()) {
          continue; // the option's own default stays
        }
        if (option.splitRegex() == null || option.splitRegex().isEmpty()) {
          spec.remove(option);
          spec.addOption(OptionSpec.builder(option).splitRegex(LIST_SEPARATOR).build());
          String joined = list.stream().map(OptionDefaults::text).collect(Collectors.joining(LIST_SEPARATOR));
          defaults.put(key, joined);
        } else {
          defaults.put(key, list.stream().map(OptionDefaults::text).collect(Collectors.joining(
              literalSeparator(option.splitRegex()))));
        }
      } else {
        check(file, key, option.type(), value);
        defaults.put(key, text(value));
      }
    }
    OptionDefaults provider = new OptionDefaults(file, defaults);
    command.setDefaultValueProvider(provider);
    return provider;
  }

  /** The options a file may set, by key: each long option name without its dashes. */
  public static Map<String, OptionSpec> keys(CommandSpec spec, String... excluded) {
    Map<String, OptionSpec> keys = new java.util.LinkedHashMap<>();
    for (OptionSpec option : spec.options()) {
      if (option.usageHelp() || option.versionHelp() || List.of(excluded).contains(option.longestName())) {
        continue;
      }
      keyOf(option).ifPresent(k -> keys.put(k, option));
    }
    return keys;
  }

  /** The key of an option: its longest name without the leading dashes, if it has a long name. */
  public static Optional<String> keyOf(OptionSpec option) {
    String name = option.longestName();
    return name.startsWith("--") ? Optional.of(name.substring(2)) : Optional.empty();
  }

  /** The file the defaults came from. */
  public ConfigFile file() {
    return file;
  }

  /** Whether {@code option} takes its value from the file (unless given on the command line). */
  public boolean sets(ArgSpec option) {
    return option instanceof OptionSpec o && keyOf(o).map(defaults::containsKey).orElse(false);
  }

  @Override
  public String defaultValue(ArgSpec argSpec) {
    if (!(argSpec instanceof OptionSpec option)) {
      return null;
    }
    // picocli interpolates ${...} in a default; a value from a file is taken as written
    return keyOf(option).map(defaults::get).map(v -> v.replace("${", "$${")).orElse(null);
  }

  @Override
  public String toString() {
    return file.path().toString();
  }

  static Class<?> elementType(OptionSpec option) {
    Class<?>[] aux = option.auxiliaryTypes();
    return aux.length > 0 ? aux[0] : String.class;
  }

  /** The kind of TOML value an option of {@code type} takes. */
  static String kind(Class<?> type) {
    if (type == boolean.class || type == Boolean.class) {
      return "boolean";
    }
    if (isInteger(type)) {
      return "integer";
    }
    if (type == double.class || type == Double.class || type == float.class || type == Float.class) {
      return "number";
    }
    return "string";
  }

  private static boolean isInteger(Class<?> type) {
    return type == int.class || type == Integer.class || type == long.class || type == Long.class
        || type == short.class || type == Short.class || type == byte.class || type == Byte.class;
  }

  private static void check(ConfigFile file, String key, Class<?> type, Object value) throws ConfigException {
    boolean ok = switch (kind(type)) {
      case "boolean" -> value instanceof Boolean;
      case "integer" -> value instanceof Long;
      case "number" -> value instanceof Long || value instanceof Double;
      default -> value instanceof String;
    };
    if (!ok) {
      throw wrongType(file, key, kind(type), value);
    }
    long max = type == int.class || type == Integer.class ? Integer.MAX_VALUE
        : type == short.class || type == Short.class ? Short.MAX_VALUE
        : type == byte.class || type == Byte.class ? Byte.MAX_VALUE : Long.MAX_VALUE;
    if (value instanceof Long n && (n > max || n < -max - 1)) {
      throw new ConfigException(file.path() + ": key '" + key + "' must be an integer from " + (-max - 1) + " to "
          + max + ", not " + n);
    }
  }

  private static ConfigException wrongType(ConfigFile file, String key, String expected, Object value) {
    String got = value instanceof List ? "a list" : value instanceof Boolean ? "a boolean"
        : value instanceof Long ? "an integer" : value instanceof Double ? "a float" : "a string";
    return new ConfigException(file.path() + ": key '" + key + "' must be " + (expected.startsWith("a ")
        ? expected : (expected.startsWith("i") ? "an " : "a ") + expected) + ", not " + got + " (" + value + ")");
  }

  private static String text(Object value) {
    return String.valueOf(value);
  }

  /** The literal text a simple split regex such as "," stands for. */
  private static String literalSeparator(String regex) {
    return regex.replace("\\", "");
  }
}
