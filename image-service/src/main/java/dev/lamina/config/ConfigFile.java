package dev.lamina.config;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.toml.TomlMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A TOML file whose keys are a command's long option names without the dashes ({@code root =
 * "/var/lib/lamina"}, {@code pinned-image = ["..."]}). A table groups keys by their first word:
 * {@code [containerd] address = "..."} is {@code containerd-address}. Values are kept as parsed
 * (string, integer, float, boolean, or a list of those); {@link OptionDefaults} checks them against
 * the command's options.
 */
public record ConfigFile(Path path, Map<String, Object> values) {
  public ConfigFile {
    values = Map.copyOf(values);
  }

  /** Reads and flattens {@code path}; fails naming the file and what is wrong with it. */
  public static ConfigFile read(Path path) throws ConfigException {
    JsonNode root;
    try {
      root = new TomlMapper().readTree(Files.readString(path));
    } catch (NoSuchFileException e) {
      throw new ConfigException(path + ": no such file");
    } catch (JacksonException e) {
      throw new ConfigException(path + ": not valid TOML: " + e.getOriginalMessage());
    } catch (IOException e) {
      throw new ConfigException(path + ": cannot read: " + e.getMessage());
    }
    Map<String, Object> values = new LinkedHashMap<>();
    if (root != null) {
      flatten(path, "", root, values);
    }
    return new ConfigFile(path, values);
  }

  private static void flatten(Path path, String prefix, JsonNode table, Map<String, Object> into)
      throws ConfigException {
    for (Iterator<Map.Entry<String, JsonNode>> it = table.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      String key = prefix + e.getKey();
      JsonNode v = e.getValue();
      if (v.isObject()) {
        flatten(path, key + "-", v, into);
        continue;
      }
      if (into.containsKey(key)) {
        throw new ConfigException(path + ": key '" + key + "' is set twice (once through a table)");
      }
      into.put(key, value(path, key, v));
    }
  }

  private static Object value(Path path, String key, JsonNode v) throws ConfigException {
    if (v.isArray()) {
      List<Object> list = new ArrayList<>();
      for (JsonNode element : v) {
        if (element.isArray() || element.isObject()) {
          throw new ConfigException(path + ": key '" + key + "' must be a list of plain values");
        }
        list.add(value(path, key, element));
      }
      return List.copyOf(list);
    }
    if (v.isBoolean()) {
      return v.booleanValue();
    }
    if (v.isIntegralNumber()) {
      return v.longValue();
    }
    if (v.isNumber()) {
      return v.doubleValue();
    }
    return v.asText(); // strings, and dates in their TOML text
  }
}
