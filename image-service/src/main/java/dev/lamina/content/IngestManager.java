package dev.lamina.content;

import java.io.IOException;
import java.util.List;

/** Inspects and cancels unfinished writes (containerd's {@code content.IngestManager}). */
public interface IngestManager {
  /** @throws dev.lamina.errdefs.LaminaException NOT_FOUND for an unknown ref */
  Status status(String ref) throws IOException;

  List<Status> statuses() throws IOException;

  /**
   * Deletes an ingest and what it had written.
   *
   * @throws dev.lamina.errdefs.LaminaException NOT_FOUND for an unknown ref, UNAVAILABLE while a
   *     writer holds it
   */
  void abort(String ref) throws IOException;
}
