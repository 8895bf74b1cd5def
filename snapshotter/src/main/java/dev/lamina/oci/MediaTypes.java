package dev.lamina.oci;

import java.util.List;
import java.util.Locale;
import java.util.Set;

/** The media types of manifests, indexes, configs and layers, OCI and Docker. */
public final class MediaTypes {
  public static final String OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
  public static final String OCI_INDEX = "application/vnd.oci.image.index.v1+json";
  public static final String DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
  public static final String DOCKER_MANIFEST_LIST =
      "application/vnd.docker.distribution.manifest.list.v2+json";
  /** Docker image manifest v2 schema 1: rejected. */
  public static final String DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json";
  /** Docker image manifest v2 schema 1, signed: rejected. */
  public static final String DOCKER_SCHEMA1_SIGNED =
      "application/vnd.docker.distribution.manifest.v1+prettyjws";

  public static final String OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
  public static final String DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";

  public static final String OCI_LAYER = "application/vnd.oci.image.layer.v1.tar";
  public static final String OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
  public static final String OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd";
  public static final String OCI_LAYER_NONDISTRIBUTABLE =
      "application/vnd.oci.image.layer.nondistributable.v1.tar";
  public static final String OCI_LAYER_NONDISTRIBUTABLE_GZIP =
      "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
  public static final String OCI_LAYER_NONDISTRIBUTABLE_ZSTD =
      "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
  public static final String DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar";
  public static final String DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip";
  public static final String DOCKER_LAYER_FOREIGN_GZIP =
      "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
  /** A descriptor's media type when it is not known (a layer's compression is then sniffed). */
  public static final String UNKNOWN = "";

  /** Every OCI and Docker layer type: plain, gzip and zstd, distributable or not. */
  public static final Set<String> LAYERS =
      Set.of(
          OCI_LAYER,
          OCI_LAYER_GZIP,
          OCI_LAYER_ZSTD,
          OCI_LAYER_NONDISTRIBUTABLE,
          OCI_LAYER_NONDISTRIBUTABLE_GZIP,
          OCI_LAYER_NONDISTRIBUTABLE_ZSTD,
          DOCKER_LAYER,
          DOCKER_LAYER_GZIP,
          DOCKER_LAYER_FOREIGN_GZIP);

  /** The manifest and index types, in the order they are offered in {@code Accept}. */
  public static final List<String> MANIFEST_TYPES =
      List.of(OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST);

  private static final Set<String> SCHEMA1 = Set.of(DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED);

  private MediaTypes() {}

  /** The type without parameters, lower case: {@code application/json; charset=utf-8} -> {@code application/json}. */
  public static String base(String contentType) {
    if (contentType == null) {
      return "";
    }
    int semi = contentType.indexOf(';');
    String t = semi >= 0 ? contentType.substring(0, semi) : contentType;
    return t.trim().toLowerCase(Locale.ROOT);
  }

  public static boolean isManifest(String mediaType) {
    String t = base(mediaType);
    return t.equals(OCI_MANIFEST) || t.equals(DOCKER_MANIFEST);
  }

  public static boolean isIndex(String mediaType) {
    String t = base(mediaType);
    return t.equals(OCI_INDEX) || t.equals(DOCKER_MANIFEST_LIST);
  }

  /** One of the four manifest or index types lamina pulls. */
  public static boolean isManifestOrIndex(String mediaType) {
    return isManifest(mediaType) || isIndex(mediaType);
  }

  public static boolean isSchema1(String mediaType) {
    return SCHEMA1.contains(base(mediaType));
  }
}
