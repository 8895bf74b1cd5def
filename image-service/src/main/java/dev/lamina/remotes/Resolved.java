package dev.lamina.remotes;

import dev.lamina.oci.Descriptor;
import dev.lamina.oci.ImageRef;

/**
 * What a reference resolves to.
 *
 * @param ref the reference that was resolved
 * @param name the normalized name it was resolved as ({@code docker.io/library/busybox:latest})
 * @param descriptor the manifest or index it points at: media type, digest and size
 */
public record Resolved(ImageRef ref, String name, Descriptor descriptor) {}
