package dev.lamina.oci;

/** What a manifest URL serves: an image {@link Manifest} or an {@link Index} of them. */
public sealed interface ManifestDocument permits Manifest, Index {
  /** The descriptor this document was fetched by; its media type is the document's. */
  Descriptor descriptor();
}
