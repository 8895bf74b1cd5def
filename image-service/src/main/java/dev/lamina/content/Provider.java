package dev.lamina.content;

import dev.lamina.digest.Digest;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Optional;

/** Reads committed content (containerd's {@code content.Provider}). */
public interface Provider {
  /** @throws dev.lamina.errdefs.LaminaException NOT_FOUND when no blob has this digest */
  ReaderAt readerAt(Digest digest) throws IOException;

  /**
   * A small blob (a manifest, an index, a config) whole, or empty when there is none.
   *
   * @throws LaminaException INVALID_ARGUMENT when it is larger than {@code maxBytes}, DATA_LOSS
   *     when it ends before its size
   */
  default Optional<byte[]> readIfPresent(Digest digest, int maxBytes) throws IOException {
    ReaderAt r;
    try {
      r = readerAt(digest);
    } catch (LaminaException e) {
      if (e.kind() == ErrorKind.NOT_FOUND) {
        return Optional.empty();
      }
      throw e;
    }
    try (r) {
      if (r.size() > maxBytes) {
        throw LaminaException.invalidArgument("content " + digest + " is " + r.size()
            + " bytes, more than the limit of " + maxBytes);
      }
      ByteBuffer buf = ByteBuffer.allocate((int) r.size());
      while (buf.hasRemaining()) {
        if (r.readAt(buf, buf.position()) < 0) {
          throw LaminaException.dataLoss("content " + digest + " ended after " + buf.position() + " of " + r.size()
              + " bytes");
        }
      }
      return Optional.of(buf.array());
    }
  }
}
