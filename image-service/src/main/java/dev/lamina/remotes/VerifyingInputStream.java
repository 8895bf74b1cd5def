package dev.lamina.remotes;

import dev.lamina.digest.Digest;
import dev.lamina.digest.DigestingInputStream;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.oci.Descriptor;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;

/**
 * Hashes and counts what is read through it and, at the end of the stream, checks both against the
 * expected digest and size: a mismatch is DATA_LOSS naming the blob. To verify a resumed download,
 * pass the digest state and count of the bytes already held.
 */
public final class VerifyingInputStream extends FilterInputStream {
  private final Digest expected;
  private final long expectedSize;
  private final DigestingInputStream hashed;
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
    this(new DigestingInputStream(in, expected.algorithm(), state, alreadyRead), expected, expectedSize);
  }

  private VerifyingInputStream(DigestingInputStream hashed, Digest expected, long expectedSize) {
    super(hashed);
    this.hashed = hashed;
    this.expected = expected;
    this.expectedSize = expectedSize;
  }

  @Override
  public int read() throws IOException {
    int b = in.read();
    if (b < 0) {
      verify();
    }
    return b;
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    int n = in.read(b, off, len);
    if (n < 0) {
      verify();
    }
    return n;
  }

  /** Skipped bytes are hashed too; a skip that stops short has reached the end, and verifies. */
  @Override
  public long skip(long n) throws IOException {
    long skipped = in.skip(n);
    if (skipped < n) {
      verify();
    }
    return skipped;
  }

  @Override
  public boolean markSupported() {
    return false;
  }

  /** Bytes hashed so far, counting {@code alreadyRead}. */
  public long count() {
    return hashed.count();
  }

  private void verify() throws LaminaException {
    if (verified) {
      return;
    }
    verified = true;
    if (hashed.count() != expectedSize) {
      throw LaminaException.dataLoss("blob " + expected + ": got " + hashed.count() + " bytes, want " + expectedSize);
    }
    Digest got = hashed.digest();
    if (!got.equals(expected)) {
      throw LaminaException.dataLoss("blob " + expected + ": digest mismatch: the content is " + got);
    }
  }
}
