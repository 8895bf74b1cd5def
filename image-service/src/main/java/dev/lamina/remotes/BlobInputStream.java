package dev.lamina.remotes;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.oci.Descriptor;
import java.io.IOException;
import java.io.InputStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A blob body held to its descriptor's size: ending early is DATA_LOSS, and so is a byte past the
 * end. A connection that drops mid-way is resumed from the current position (a new Range request
 * on the same host) a bounded number of times, then reported UNAVAILABLE; a stall is UNAVAILABLE at
 * once.
 */
final class BlobInputStream extends InputStream {
  private static final Logger LOG = LoggerFactory.getLogger(BlobInputStream.class);

  /** Opens the body again at {@code position}. */
  interface Opener {
    InputStream open(long position) throws LaminaException;
  }

  private final Descriptor blob;
  private final String what;
  private final Opener opener;
  private InputStream in;
  private long position;
  private int resumesLeft;
  private boolean closed;

  BlobInputStream(Descriptor blob, String what, InputStream first, long offset, Opener opener, int maxResumes) {
    this.blob = blob;
    this.what = what;
    this.in = first;
    this.position = offset;
    this.opener = opener;
    this.resumesLeft = maxResumes;
  }

  /** Bytes of the blob delivered so far, counting the starting offset. */
  long position() {
    return position;
  }

  @Override
  public int read() throws IOException {
    byte[] b = new byte[1];
    int n = read(b, 0, 1);
    return n < 0 ? -1 : b[0] & 0xff;
  }

  @Override
  public int read(byte[] buf, int off, int len) throws IOException {
    if (closed) {
      throw new IOException("stream closed: " + what);
    }
    if (len == 0) {
      return 0;
    }
    while (true) {
      try {
        if (position >= blob.size()) {
          if (in.read() >= 0) {
            close();
            throw LaminaException.dataLoss(what + ": the registry sent more than the descriptor's "
                + blob.size() + " bytes");
          }
          return -1;
        }
        int n = in.read(buf, off, (int) Math.min(len, blob.size() - position));
        if (n < 0) {
          close();
          throw LaminaException.dataLoss(what + ": truncated: the body ended after " + position
              + " of " + blob.size() + " bytes");
        }
        position += n;
        return n;
      } catch (LaminaException e) {
        close();
        throw e;
      } catch (IOException e) {
        quietClose(in);
        if (resumesLeft <= 0) {
          closed = true;
          throw new LaminaException(ErrorKind.UNAVAILABLE, what + ": the connection broke after "
              + position + " of " + blob.size() + " bytes: " + e, e);
        }
        resumesLeft--;
        LOG.warn("{}: the connection broke after {} of {} bytes ({}); resuming", what, position,
            blob.size(), e.toString());
        in = opener.open(position);
      }
    }
  }

  private static void quietClose(InputStream s) {
    try {
      s.close();
    } catch (IOException e) {
      // nothing to do
    }
  }

  @Override
  public void close() {
    if (!closed) {
      closed = true;
      quietClose(in);
    }
  }
}
