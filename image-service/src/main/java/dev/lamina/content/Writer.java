package dev.lamina.content;

import dev.lamina.digest.Digest;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.security.MessageDigest;
import java.util.Map;

/**
 * Writes one blob into the store under a ref (containerd's {@code content.Writer}). The bytes are
 * hashed as they arrive; {@link #commit} makes them a blob only after the size and digest are
 * verified. Closing without committing keeps what was written: a writer opened later with the same
 * ref resumes at {@link #offset()}.
 *
 * <p>A writer is used by one thread at a time; while it is open its ref is locked.
 */
public interface Writer extends Closeable {
  String ref();

  void write(byte[] b, int off, int len) throws IOException;

  /** Bytes written so far, including those of earlier writers of the same ref. */
  long offset();

  /** The digest of the bytes written so far. */
  Digest digest();

  /** A copy of the hash of the bytes written so far, for verifying the rest of the blob as it arrives. */
  MessageDigest digestState();

  Status status() throws IOException;

  /** Drops everything after {@code size} bytes (0 starts over). */
  void truncate(long size) throws IOException;

  /**
   * Verifies and publishes the blob, then ends the ingest.
   *
   * @param size the size the blob must have, or -1 to accept the bytes written
   * @param expected the digest it must have, or null to accept the bytes written
   * @param labels labels the new blob starts with
   * @throws dev.lamina.errdefs.LaminaException FAILED_PRECONDITION on a size or digest mismatch
   *     (nothing is committed and the ingest stays), ALREADY_EXISTS when the blob is already there
   *     (it is left untouched and the ingest is removed)
   */
  void commit(long size, Digest expected, Map<String, String> labels) throws IOException;

  /** An output stream onto this writer; closing the stream does not close the writer. */
  default OutputStream outputStream() {
    Writer w = this;
    return new OutputStream() {
      @Override
      public void write(int b) throws IOException {
        w.write(new byte[] {(byte) b}, 0, 1);
      }

      @Override
      public void write(byte[] b, int off, int len) throws IOException {
        w.write(b, off, len);
      }
    };
  }
}
