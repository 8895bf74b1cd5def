package dev.lamina.diff;

import dev.lamina.compression.Compression;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Path;

/**
 * Computes the changeset that turns one directory tree into another and writes it as an OCI layer
 * (containerd's {@code diff.Comparer}). Applying the layer onto a copy of {@code lower} gives
 * {@code upper}: additions and modifications as entries, removals as {@code .wh.} whiteouts.
 */
public interface Comparer {
  /**
   * Writes the layer to {@code out}, compressed as asked, and leaves {@code out} open: the caller
   * owns it (it is usually a content-store ingest that commits only when the digest is known).
   *
   * @param lower the tree the layer applies onto
   * @param upper the tree the layer must produce
   */
  DiffResult compare(Path lower, Path upper, Compression compression, OutputStream out) throws IOException;
}
