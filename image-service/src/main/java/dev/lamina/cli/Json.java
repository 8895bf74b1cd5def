package dev.lamina.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;

/** The commands' {@code --json} output, through Jackson. */
final class Json {
  private Json() {}

  /** Made on first use: an ObjectMapper costs ~50 ms of start-up that table output never needs. */
  private static final class Holder {
    static final ObjectMapper MAPPER = new ObjectMapper();
  }

  static ObjectMapper mapper() {
    return Holder.MAPPER;
  }

  /** {@code value} (maps, lists, strings, numbers) as one line of JSON. */
  static String compact(Object value) {
    try {
      return mapper().writeValueAsString(value);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }
}
