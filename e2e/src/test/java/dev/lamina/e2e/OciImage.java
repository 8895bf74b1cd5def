package dev.lamina.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lamina.oci.MediaTypes;
import dev.lamina.oci.Platform;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * One image of an OCI image layout, as its JSON describes it: {@code index.json} (the manifest
 * tagged with {@code org.opencontainers.image.ref.name}) -> manifest -> config, whose {@code
 * rootfs.diff_ids} pair up with the manifest's layers.
 */
record OciImage(Path layout, String manifestDigest, String configDigest, List<Layer> layers) {
  static final String REF_NAME = "org.opencontainers.image.ref.name";
  private static final ObjectMapper JSON = new ObjectMapper();

  OciImage {
    layers = List.copyOf(layers);
  }

  /**
   * A layer descriptor with the diff ID the config gives it.
   *
   * @param diffId digest of the uncompressed tar, from the config's {@code rootfs.diff_ids}
   */
  record Layer(String mediaType, String digest, long size, String diffId) {}

  static OciImage read(Path layout, String tag) throws IOException {
    JsonNode index = JSON.readTree(layout.resolve("index.json").toFile());
    JsonNode manifestDescriptor = null;
    for (JsonNode m : index.path("manifests")) {
      if (tag.equals(m.path("annotations").path(REF_NAME).asText(null))) {
        manifestDescriptor = m;
      }
    }
    if (manifestDescriptor == null) {
      throw new IOException(layout + "/index.json has no manifest tagged \"" + tag + "\"");
    }
    String manifestDigest = manifestDescriptor.path("digest").asText();
    JsonNode manifest = JSON.readTree(blob(layout, manifestDigest).toFile());
    String configDigest = manifest.path("config").path("digest").asText();
    JsonNode config = JSON.readTree(blob(layout, configDigest).toFile());
    JsonNode diffIds = config.path("rootfs").path("diff_ids");
    JsonNode descriptors = manifest.path("layers");
    if (diffIds.size() != descriptors.size()) {
      throw new IOException("manifest " + manifestDigest + " has " + descriptors.size() + " layers but config "
          + configDigest + " has " + diffIds.size() + " diff IDs");
    }
    List<Layer> layers = new ArrayList<>();
    for (int i = 0; i < descriptors.size(); i++) {
      JsonNode d = descriptors.get(i);
      layers.add(new Layer(d.path("mediaType").asText(), d.path("digest").asText(), d.path("size").asLong(),
          diffIds.get(i).asText()));
    }
    return new OciImage(layout, manifestDigest, configDigest, layers);
  }

  Path blob(String digest) throws IOException {
    return blob(layout, digest);
  }

  /**
   * Tags {@code indexTag} in {@code layout}: a new OCI image index listing, for each entry of {@code
   * manifests}, the manifest tagged with its key, for the platform of its value (a multi-platform
   * image, as {@code docker manifest create} and {@code annotate} make one). Returns the index's
   * digest. An earlier entry tagged {@code indexTag} is replaced.
   */
  static String writeIndex(Path layout, String indexTag, Map<String, Platform> manifests) throws IOException {
    ObjectNode top = (ObjectNode) JSON.readTree(layout.resolve("index.json").toFile());
    ArrayNode tagged = (ArrayNode) top.path("manifests");
    ObjectNode index = JSON.createObjectNode();
    index.put("schemaVersion", 2);
    index.put("mediaType", MediaTypes.OCI_INDEX);
    ArrayNode list = index.putArray("manifests");
    for (Map.Entry<String, Platform> e : manifests.entrySet()) {
      JsonNode found = null;
      for (JsonNode m : tagged) {
        if (e.getKey().equals(m.path("annotations").path(REF_NAME).asText(null))) {
          found = m;
        }
      }
      if (found == null) {
        throw new IOException(layout + "/index.json has no manifest tagged \"" + e.getKey() + "\"");
      }
      ObjectNode d = list.addObject();
      d.put("mediaType", found.path("mediaType").asText());
      d.put("digest", found.path("digest").asText());
      d.put("size", found.path("size").asLong());
      ObjectNode platform = d.putObject("platform");
      platform.put("architecture", e.getValue().architecture());
      platform.put("os", e.getValue().os());
      if (!e.getValue().osVersion().isEmpty()) {
        platform.put("os.version", e.getValue().osVersion());
      }
      if (!e.getValue().variant().isEmpty()) {
        platform.put("variant", e.getValue().variant());
      }
    }
    byte[] bytes = JSON.writeValueAsBytes(index);
    String digest;
    try {
      digest = "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    Files.write(layout.resolve("blobs/sha256").resolve(digest.substring("sha256:".length())), bytes);
    for (int i = tagged.size() - 1; i >= 0; i--) {
      if (indexTag.equals(tagged.get(i).path("annotations").path(REF_NAME).asText(null))) {
        tagged.remove(i);
      }
    }
    ObjectNode d = tagged.addObject();
    d.put("mediaType", MediaTypes.OCI_INDEX);
    d.put("digest", digest);
    d.put("size", bytes.length);
    d.putObject("annotations").put(REF_NAME, indexTag);
    JSON.writeValue(layout.resolve("index.json").toFile(), top);
    return digest;
  }

  private static Path blob(Path layout, String digest) throws IOException {
    int colon = digest.indexOf(':');
    if (colon <= 0 || !digest.substring(colon + 1).matches("[0-9a-f]{64}")) {
      throw new IOException("not a sha256-style digest: \"" + digest + "\"");
    }
    Path p = layout.resolve("blobs").resolve(digest.substring(0, colon)).resolve(digest.substring(colon + 1));
    if (!Files.isRegularFile(p)) {
      throw new IOException("blob " + digest + " is missing from " + layout);
    }
    return p;
  }
}
