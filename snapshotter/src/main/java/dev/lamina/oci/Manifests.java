package dev.lamina.oci;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import java.util.ArrayList;
import java.util.List;

/** Parses and validates manifests and indexes. */
public final class Manifests {
  private Manifests() {}

  /**
   * Parses a manifest or index fetched by {@code descriptor}. The media type comes from the descriptor
   * when it is one of the four known types, else from the document's {@code mediaType}, else from its
   * shape; both must agree when both are given. Docker schema 1 is refused.
   *
   * @throws LaminaException NOT_IMPLEMENTED for schema 1, INVALID_ARGUMENT for anything malformed
   */
  public static ManifestDocument parse(Descriptor descriptor, byte[] json) throws LaminaException {
    String what = "manifest " + descriptor.digest();
    if (MediaTypes.isSchema1(descriptor.mediaType())) {
      throw schema1(what);
    }
    Json j = new Json(what);
    JsonNode root = j.object(j.read(json), "");
    JsonNode sv = root.get("schemaVersion");
    if (sv != null && sv.isIntegralNumber() && sv.intValue() == 1) {
      throw schema1(what);
    }
    if (sv == null || !sv.isIntegralNumber() || sv.intValue() != 2) {
      throw j.invalid("schemaVersion", "want 2, got " + sv);
    }
    String declared = MediaTypes.base(j.text(root, "mediaType"));
    if (MediaTypes.isSchema1(declared)) {
      throw schema1(what);
    }
    if (!declared.isEmpty() && !MediaTypes.isManifestOrIndex(declared)) {
      throw j.invalid("mediaType", "unsupported manifest media type \"" + declared + "\"");
    }
    String given = MediaTypes.base(descriptor.mediaType());
    boolean hasManifests = root.has("manifests");
    boolean hasLayers = root.has("layers") || root.has("config");
    if (hasManifests && hasLayers) {
      throw j.invalid("", "ambiguous: has both manifests and config/layers");
    }
    String type;
    if (MediaTypes.isManifestOrIndex(given)) {
      if (!declared.isEmpty() && !declared.equals(given)) {
        throw j.invalid(
            "mediaType", "is \"" + declared + "\" but was served as \"" + given + "\"");
      }
      type = given;
    } else if (!declared.isEmpty()) {
      type = declared;
    } else if (hasManifests) {
      type = MediaTypes.OCI_INDEX;
    } else if (hasLayers) {
      type = MediaTypes.OCI_MANIFEST;
    } else {
      throw j.invalid("", "neither a manifest nor an index");
    }
    Descriptor self = descriptor.withMediaType(type);
    if (MediaTypes.isIndex(type)) {
      if (hasLayers) {
        throw j.invalid("", "an index with config/layers");
      }
      return new Index(self, list(j, root, "manifests"), j.stringMap(root, "annotations"));
    }
    if (hasManifests) {
      throw j.invalid("", "a manifest with manifests");
    }
    Descriptor config = j.descriptor(root.get("config"), "config");
    return new Manifest(self, config, list(j, root, "layers"), j.stringMap(root, "annotations"));
  }

  private static List<Descriptor> list(Json j, JsonNode root, String field) throws LaminaException {
    JsonNode arr = root.get(field);
    if (arr == null || !arr.isArray()) {
      throw j.invalid(field, "want an array");
    }
    if (arr.size() > Limits.MAX_ENTRIES) {
      throw j.invalid(field, "more than " + Limits.MAX_ENTRIES + " entries");
    }
    List<Descriptor> out = new ArrayList<>(arr.size());
    for (int i = 0; i < arr.size(); i++) {
      out.add(j.descriptor(arr.get(i), field + "[" + i + "]"));
    }
    return out;
  }

  /** NOT_IMPLEMENTED for {@code what}, a Docker schema 1 manifest, saying how to get a pullable one. */
  public static LaminaException schema1(String what) {
    return new LaminaException(
        ErrorKind.NOT_IMPLEMENTED,
        what + " is a Docker image manifest v2 schema 1 ("
            + MediaTypes.DOCKER_SCHEMA1_SIGNED + "), which lamina does not pull; "
            + "rebuild or re-push the image as Docker schema 2 or OCI");
  }
}
