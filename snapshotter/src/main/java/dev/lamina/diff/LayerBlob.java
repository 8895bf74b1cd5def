package dev.lamina.diff;

import dev.lamina.digest.Digest;
import java.io.InputStream;
import java.util.Map;

/**
 * A layer to apply: its bytes as stored (compressed or not) and what is known about it.
 *
 * @param mediaType the descriptor's media type; empty when unknown (compression is sniffed)
 * @param expectedDiffId digest the uncompressed tar must have, or null to accept any
 * @param payloads opaque data for configured stream processors, by processor id
 */
public record LayerBlob(String mediaType, InputStream stream, Digest expectedDiffId, Map<String, byte[]> payloads) {
  public LayerBlob {
    mediaType = mediaType == null ? "" : mediaType;
    payloads = payloads == null ? Map.of() : Map.copyOf(payloads);
  }

  public static LayerBlob of(InputStream stream) {
    return new LayerBlob("", stream, null, Map.of());
  }
}
