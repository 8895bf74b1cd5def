package dev.lamina.content;

import dev.lamina.digest.Digest;
import java.io.IOException;

/** Writes new content (containerd's {@code content.Ingester}). */
public interface Ingester {
  /**
   * Opens the writer of {@code ref}, resuming an earlier one that was closed without committing.
   *
   * @param total the expected size, or -1 when unknown
   * @param expected the expected digest, or null when unknown
   * @throws dev.lamina.errdefs.LaminaException UNAVAILABLE while another writer holds the ref,
   *     ALREADY_EXISTS when {@code expected} is already committed, FAILED_PRECONDITION when
   *     {@code total} contradicts the one the ingest was started with
   */
  Writer writer(String ref, long total, Digest expected) throws IOException;
}
