package dev.lamina.remotes;

import dev.lamina.digest.Digest;
import dev.lamina.errdefs.LaminaException;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.util.HexFormat;

/**
 * Hashes and counts what is read through it and, at the end of the stream, checks both against the
 * expected digest and size: a mismatch is DATA_LOSS naming the blob. To verify a resumed download,
 * pass the digest state and count of the bytes already held.
 */
public final class VerifyingInputStream extends FilterInputStream {
  private final Digest expected;
  private final long expectedSize;
  private final MessageDigest md;
  private long count;
  private boolean verified;

  /** Verifies a whole blob read from its start. */
  public VerifyingInputStream(InputStream in, Descriptor expected) {
    this(in, expected.digest(), expected.size(), expected.digest().newMessageDigest(), 0);
  }

  /**
   * Verifies a blob of which {@code alreadyRead} bytes were hashed into {@code state} before.
   *
   * @param state a digest of {@code expected}'s algorithm, fed with the earlier bytes
   */
  public VerifyingInputStream(
      InputStream in, Digest expected, long expectedSize, MessageDigest state, long alreadyRead) {
    super(in);
    this.expected = expected;
    this.expectedSize = expectedSize;
    this.md = state;
    this.count = alreadyRead;
  }

  @Override
  public int read() throws IOException {
    int b = in.read();
    if (b < 0) {
      verify();
    } else {
      md.update((byte) b);
      count++;
    }
    return b;
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    int n = in.read(b, off, len);
    if (n < 0) {
      verify();
    } else if (n > 0) {
      md.update(b, off, n);
      count += n;
    }
    return n;
  }

  @Override
  public long skip(long n) throws IOException {
    byte[] buf = new byte[(int) Math.min(Math.max(n, 1), 64 * 1024)];
    long skipped = 0;
    while (skipped < n) {
      int r = read(buf, 0, (int) Math.min(buf.length, n - skipped));
      if (r < 0) {
        break;
      }
      skipped += r;
    }
    return skipped;
  }

  @Override
  public boolean markSupported() {
    return false;
  }

  /** Bytes hashed so far, counting {@code alreadyRead}. */
  public long count() {
    return count;
  }

  private void verify() throws LaminaException {
    if (verified) {
      return;
    }
    verified = true;
    if (count != expectedSize) {
      throw LaminaException.dataLoss("blob " + expected + ": got " + count + " bytes, want " + expectedSize);
    }
    Digest got = new Digest(expected.algorithm(), HexFormat.of().formatHex(md.digest()));
    if (!got.equals(expected)) {
      throw LaminaException.dataLoss("blob " + expected + ": digest mismatch: the content is " + got);
    }
  }
}
