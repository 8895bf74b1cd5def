package dev.lamina.oci;

import java.util.List;
import java.util.Map;

/**
 * An image manifest: OCI {@code application/vnd.oci.image.manifest.v1+json} or Docker {@code
 * application/vnd.docker.distribution.manifest.v2+json}. Parse with {@link Manifests#parse}.
 *
 * @param descriptor what this manifest was fetched by (from an index: with its platform)
 * @param config the image config blob
 * @param layers the layer blobs, base first
 * @param annotations free-form metadata
 */
public record Manifest(
    Descriptor descriptor, Descriptor config, List<Descriptor> layers, Map<String, String> annotations)
    implements ManifestDocument {
  public Manifest {
    layers = List.copyOf(layers);
    annotations = annotations == null ? Map.of() : Map.copyOf(annotations);
  }
}
