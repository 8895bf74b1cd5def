package dev.lamina.content;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;

/** Reads a {@link ReaderAt} from the start, keeping its own position. */
final class ReaderAtInputStream extends InputStream {
  private final ReaderAt reader;
  private long position;

  ReaderAtInputStream(ReaderAt reader) {
    this.reader = reader;
  }

  @Override
  public int read() throws IOException {
    byte[] one = new byte[1];
    int n = read(one, 0, 1);
    return n <= 0 ? -1 : one[0] & 0xff;
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    if (len == 0) {
      return 0;
    }
    int n = reader.readAt(ByteBuffer.wrap(b, off, len), position);
    if (n > 0) {
      position += n;
    }
    return n;
  }

  @Override
  public long skip(long n) {
    long skipped = Math.max(0, Math.min(n, reader.size() - position));
    position += skipped;
    return skipped;
  }

  @Override
  public int available() {
    return (int) Math.min(Integer.MAX_VALUE, Math.max(0, reader.size() - position));
  }
}
