/**
 * The OCI values both modules share: {@link dev.lamina.oci.Descriptor descriptors}, image {@link
 * dev.lamina.oci.Manifest manifests} and {@link dev.lamina.oci.Index indexes} (OCI and Docker
 * schema 2, parsed by {@link dev.lamina.oci.Manifests}), the {@link dev.lamina.oci.ImageConfig image
 * config}, {@link dev.lamina.oci.Platform platforms} and their matching, {@link
 * dev.lamina.oci.MediaTypes media types}, normalized {@link dev.lamina.oci.ImageRef image
 * references}, and the {@link dev.lamina.oci.Limits size and depth limits} on these documents.
 *
 * <p>Immutable values and strict parsing of bytes the caller already holds: nothing here does any
 * I/O beyond parsing; fetching is the registry client's ({@code dev.lamina.remotes}), storing the
 * content store's.
 */
package dev.lamina.oci;
