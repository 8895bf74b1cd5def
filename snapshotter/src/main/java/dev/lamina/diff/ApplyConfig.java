package dev.lamina.diff;

import java.util.Map;

/**
 * Options of one apply.
 *
 * @param payloads opaque data for stream processors, by processor id (containerd passes each as a
 *     marshalled {@code google.protobuf.Any})
 * @param syncFs flush the target filesystem before returning
 */
public record ApplyConfig(Map<String, byte[]> payloads, boolean syncFs) {
  public ApplyConfig {
    payloads = payloads == null ? Map.of() : Map.copyOf(payloads);
  }

  public static ApplyConfig defaults() {
    return new ApplyConfig(Map.of(), false);
  }
}
