package dev.lamina.processor;

import java.util.Set;

/** Layer media types: OCI and Docker, compressed and plain. */
public final class MediaTypes {
  private MediaTypes() {}

  public static final String OCI_LAYER = "application/vnd.oci.image.layer.v1.tar";
  public static final String OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
  public static final String OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd";
  public static final String OCI_LAYER_NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar";
  public static final String OCI_LAYER_NONDISTRIBUTABLE_GZIP =
      "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
  public static final String OCI_LAYER_NONDISTRIBUTABLE_ZSTD =
      "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
  public static final String DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar";
  public static final String DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip";
  public static final String DOCKER_LAYER_FOREIGN_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
  /** What a caller passes when it does not know: the compression is sniffed from magic bytes. */
  public static final String UNKNOWN = "";

  /** Layer media types whose compression lamina handles itself, by sniffing the magic bytes. */
  public static final Set<String> BUILT_IN = Set.of(
      UNKNOWN,
      OCI_LAYER,
      OCI_LAYER_GZIP,
      OCI_LAYER_ZSTD,
      OCI_LAYER_NONDISTRIBUTABLE,
      OCI_LAYER_NONDISTRIBUTABLE_GZIP,
      OCI_LAYER_NONDISTRIBUTABLE_ZSTD,
      DOCKER_LAYER,
      DOCKER_LAYER_GZIP,
      DOCKER_LAYER_FOREIGN_GZIP);
}
