package dev.lamina.content;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;

/** Random access to one committed blob (containerd's {@code content.ReaderAt}). */
public interface ReaderAt extends Closeable {
  /** The blob's size in bytes. */
  long size();

  /**
   * Reads into {@code dst} from {@code position}; returns the bytes read, -1 at the end. Safe to
   * call from several threads at once.
   */
  int readAt(ByteBuffer dst, long position) throws IOException;

  /** A sequential stream over the whole blob; closing it does not close this reader. */
  default InputStream stream() {
    return new ReaderAtInputStream(this);
  }
}
