package dev.lamina.oci;

import dev.lamina.errdefs.LaminaException;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * An image index: OCI {@code application/vnd.oci.image.index.v1+json} or Docker manifest list.
 *
 * @param descriptor what this index was fetched by
 * @param manifests its entries, in index order
 * @param annotations free-form metadata
 */
public record Index(Descriptor descriptor, List<Descriptor> manifests, Map<String, String> annotations)
    implements ManifestDocument {
  public Index {
    manifests = List.copyOf(manifests);
    annotations = annotations == null ? Map.of() : Map.copyOf(annotations);
  }

  /**
   * The entry the matcher ranks best (first in index order among equals), considering only manifest
   * and index entries that carry a platform; attestation manifests ({@code unknown/unknown}) never
   * match.
   */
  public Optional<Descriptor> select(Platform.Matcher matcher) {
    Descriptor best = null;
    int bestRank = Integer.MAX_VALUE;
    for (Descriptor d : manifests) {
      if (d.platform() == null || !MediaTypes.isManifestOrIndex(d.mediaType())) {
        continue;
      }
      int rank = matcher.rank(d.platform());
      if (rank >= 0 && rank < bestRank) {
        best = d;
        bestRank = rank;
      }
    }
    return Optional.ofNullable(best);
  }

  /** Like {@link #select}, failing with NOT_FOUND that lists what the index offers. */
  public Descriptor require(Platform.Matcher matcher, String what) throws LaminaException {
    return select(matcher)
        .orElseThrow(
            () ->
                LaminaException.notFound(
                    "no manifest for platform " + matcher + " in index " + descriptor.digest()
                        + " of " + what + " (it has: "
                        + manifests.stream()
                            .map(d -> d.platform() == null ? "no platform" : d.platform().toString())
                            .collect(Collectors.joining(", "))
                        + ")"));
  }
}
