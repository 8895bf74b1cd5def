package dev.lamina.oci;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.lamina.digest.Digest;
import dev.lamina.errdefs.LaminaException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Strict reading of registry JSON (manifests, indexes, configs, token responses); every failure is
 * INVALID_ARGUMENT naming the document and field.
 */
public final class Json {
  public static final ObjectMapper MAPPER =
      JsonMapper.builder(
              JsonFactory.builder()
                  .streamReadConstraints(
                      StreamReadConstraints.builder()
                          .maxNestingDepth(Limits.MAX_JSON_NESTING)
                          .maxStringLength(Limits.MAX_JSON_STRING)
                          .build())
                  .build())
          .build();

  private final String what;

  /** @param what the document, as failures name it: {@code manifest sha256:...} */
  public Json(String what) {
    this.what = what;
  }

  public JsonNode read(byte[] data) throws LaminaException {
    try {
      JsonNode n = MAPPER.readTree(data);
      if (n == null || n.isMissingNode()) {
        throw invalid("", "empty document");
      }
      return n;
    } catch (JsonProcessingException e) {
      throw new LaminaException(
          dev.lamina.errdefs.ErrorKind.INVALID_ARGUMENT,
          "invalid " + what + ": not JSON: " + e.getOriginalMessage(),
          e);
    } catch (IOException e) {
      throw invalid("", e.getMessage());
    }
  }

  public LaminaException invalid(String field, String why) {
    return LaminaException.invalidArgument(
        "invalid " + what + (field.isEmpty() ? "" : ": " + field) + ": " + why);
  }

  public JsonNode object(JsonNode n, String field) throws LaminaException {
    if (n == null || !n.isObject()) {
      throw invalid(field, "want a JSON object");
    }
    return n;
  }

  /** A string field, "" when absent or null. */
  public String text(JsonNode parent, String name) throws LaminaException {
    JsonNode n = parent.get(name);
    if (n == null || n.isNull()) {
      return "";
    }
    if (!n.isTextual()) {
      throw invalid(name, "want a string");
    }
    return n.textValue();
  }

  public List<String> strings(JsonNode parent, String name) throws LaminaException {
    JsonNode n = parent.get(name);
    List<String> out = new ArrayList<>();
    if (n == null || n.isNull()) {
      return out;
    }
    if (!n.isArray()) {
      throw invalid(name, "want an array of strings");
    }
    for (JsonNode e : n) {
      if (!e.isTextual()) {
        throw invalid(name, "want an array of strings");
      }
      out.add(e.textValue());
    }
    return out;
  }

  public Map<String, String> stringMap(JsonNode parent, String name) throws LaminaException {
    JsonNode n = parent.get(name);
    Map<String, String> out = new LinkedHashMap<>();
    if (n == null || n.isNull()) {
      return out;
    }
    if (!n.isObject()) {
      throw invalid(name, "want an object of strings");
    }
    for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      if (!e.getValue().isTextual()) {
        throw invalid(name + "." + e.getKey(), "want a string");
      }
      out.put(e.getKey(), e.getValue().textValue());
    }
    return out;
  }

  public List<String> keys(JsonNode parent, String name) throws LaminaException {
    JsonNode n = parent.get(name);
    List<String> out = new ArrayList<>();
    if (n == null || n.isNull()) {
      return out;
    }
    if (!n.isObject()) {
      throw invalid(name, "want an object");
    }
    n.fieldNames().forEachRemaining(out::add);
    return out;
  }

  public Digest digest(JsonNode n, String field) throws LaminaException {
    if (n == null || !n.isTextual()) {
      throw invalid(field, "want a digest string");
    }
    try {
      return Digest.parse(n.textValue());
    } catch (LaminaException e) {
      throw invalid(field, e.getMessage());
    }
  }

  public Descriptor descriptor(JsonNode n, String field) throws LaminaException {
    if (n == null || !n.isObject()) {
      throw invalid(field, "want a descriptor object");
    }
    String mediaType = text(n, "mediaType");
    if (mediaType.isEmpty()) {
      throw invalid(field + ".mediaType", "missing");
    }
    Digest digest = digest(n.get("digest"), field + ".digest");
    JsonNode s = n.get("size");
    if (s == null || !s.isIntegralNumber() || !s.canConvertToLong() || s.longValue() < 0) {
      throw invalid(field + ".size", "want a non-negative integer");
    }
    Platform platform = null;
    JsonNode p = n.get("platform");
    if (p != null && !p.isNull()) {
      object(p, field + ".platform");
      String os = text(p, "os");
      String arch = text(p, "architecture");
      if (os.isEmpty() || arch.isEmpty()) {
        throw invalid(field + ".platform", "wants os and architecture");
      }
      platform = new Platform(os, arch, text(p, "variant"), text(p, "os.version"));
    }
    return new Descriptor(
        mediaType, digest, s.longValue(), strings(n, "urls"), stringMap(n, "annotations"), platform);
  }
}
