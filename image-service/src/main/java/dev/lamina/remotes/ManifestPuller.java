package dev.lamina.remotes;

import dev.lamina.digest.Digest;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.oci.ImageRef;
import dev.lamina.oci.MediaTypes;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import java.util.Map;

/** {@code GET /v2/<name>/manifests/<reference>}: the manifest's bytes, media type and digest header. */
final class ManifestPuller implements RegistryEndpoint<ManifestPuller.Pulled> {
  private final ImageRef repo;
  private final String reference;
  private final String preferredType;
  private final String query;
  private final int maxBytes;

  /**
   * @param bytes the body
   * @param contentType the {@code Content-Type}, without parameters
   * @param headerDigest the {@code Docker-Content-Digest}, or null
   */
  record Pulled(byte[] bytes, String contentType, Digest headerDigest) {}

  private final long expectedSize;

  /**
   * @param expectedSize the descriptor's size when fetching by digest (any other length is
   *     DATA_LOSS), or -1 when unknown
   */
  ManifestPuller(
      ImageRef repo, String reference, String preferredType, String query, int maxBytes, long expectedSize) {
    this.repo = repo;
    this.reference = reference;
    this.preferredType = preferredType;
    this.query = query;
    this.maxBytes = maxBytes;
    this.expectedSize = expectedSize;
  }

  @Override
  public String method() {
    return "GET";
  }

  @Override
  public String route() {
    return repo.path() + "/manifests/" + reference + query;
  }

  @Override
  public Map<String, List<String>> headers() {
    return Map.of("Accept", List.of(accept(preferredType)));
  }

  @Override
  public Pulled handleResponse(Response r) throws IOException {
    String what = "manifest " + repo.name() + "@" + reference;
    long declared = r.contentLength();
    if (expectedSize >= 0) {
      if (declared >= 0 && declared != expectedSize) {
        r.close();
        throw LaminaException.dataLoss(what + ": " + r.uri().getRawAuthority() + " announced " + declared
            + " bytes, the descriptor says " + expectedSize);
      }
      byte[] bytes;
      try (InputStream in = r.body()) {
        bytes = in.readNBytes((int) Math.min(expectedSize + 1, maxBytes + 1L));
      }
      if (bytes.length != expectedSize) {
        throw LaminaException.dataLoss(what + ": " + r.uri().getRawAuthority() + " sent "
            + (bytes.length > expectedSize ? "more than" : bytes.length + " of") + " the descriptor's "
            + expectedSize + " bytes");
      }
      return new Pulled(bytes, MediaTypes.base(r.header("Content-Type")), headerDigest(r));
    }
    byte[] bytes = r.readAll(maxBytes, what);
    if (declared >= 0 && declared != bytes.length) {
      throw LaminaException.dataLoss(
          what + ": received " + bytes.length + " bytes of the announced " + declared);
    }
    return new Pulled(bytes, MediaTypes.base(r.header("Content-Type")), headerDigest(r));
  }

  /** The {@code Accept} header for manifest requests, the given type first when it is one of ours. */
  static String accept(String preferred) {
    StringBuilder sb = new StringBuilder();
    String p = MediaTypes.base(preferred);
    if (MediaTypes.MANIFEST_TYPES.contains(p)) {
      sb.append(p);
    }
    for (String t : MediaTypes.MANIFEST_TYPES) {
      if (!t.equals(p)) {
        if (sb.length() > 0) {
          sb.append(", ");
        }
        sb.append(t);
      }
    }
    return sb.toString();
  }

  static Digest headerDigest(Response r) {
    String h = r.header("Docker-Content-Digest").trim();
    if (h.isEmpty()) {
      return null;
    }
    try {
      return Digest.parse(h);
    } catch (LaminaException e) {
      return null; // unusable header: the body's digest decides
    }
  }

  @Override
  public String description() {
    return "fetch manifest " + repo.name() + (reference.contains(":") ? "@" : ":") + reference;
  }

  @Override
  public String notFound() {
    return "manifest unknown: " + repo.name() + (reference.contains(":") ? "@" : ":") + reference;
  }
}
