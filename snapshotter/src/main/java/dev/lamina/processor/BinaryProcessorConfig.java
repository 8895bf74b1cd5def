package dev.lamina.processor;

import java.util.List;
import java.util.Map;

/**
 * An external program that converts one layer media type into another (containerd's
 * {@code stream_processors}): it reads the layer on stdin and writes the result on stdout.
 *
 * @param id names the processor; payloads addressed to this id are handed to the program
 * @param accepts media types the program reads
 * @param returns media type the program writes
 * @param path the executable
 * @param args its arguments
 * @param env environment entries added to lamina's own
 */
public record BinaryProcessorConfig(
    String id, List<String> accepts, String returns, String path, List<String> args, Map<String, String> env) {
  public BinaryProcessorConfig {
    if (id == null || id.isBlank()) {
      throw new IllegalArgumentException("stream processor needs an id");
    }
    if (accepts == null || accepts.isEmpty()) {
      throw new IllegalArgumentException("stream processor " + id + " accepts no media type");
    }
    if (returns == null || returns.isBlank()) {
      throw new IllegalArgumentException("stream processor " + id + " returns no media type");
    }
    if (path == null || path.isBlank()) {
      throw new IllegalArgumentException("stream processor " + id + " has no path");
    }
    accepts = List.copyOf(accepts);
    args = args == null ? List.of() : List.copyOf(args);
    env = env == null ? Map.of() : Map.copyOf(env);
  }
}
