package dev.lamina.images;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;

/** Hands a stream to the applier, which closes what it is given, without letting it close it. */
final class KeepOpen extends FilterInputStream {
  KeepOpen(InputStream in) {
    super(in);
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    return in.read(b, off, len);
  }

  @Override
  public void close() {}
}
