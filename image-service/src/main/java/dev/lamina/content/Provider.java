package dev.lamina.content;

import dev.lamina.digest.Digest;
import java.io.IOException;

/** Reads committed content (containerd's {@code content.Provider}). */
public interface Provider {
  /** @throws dev.lamina.errdefs.LaminaException NOT_FOUND when no blob has this digest */
  ReaderAt readerAt(Digest digest) throws IOException;
}
