package dev.lamina.e2e;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

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
