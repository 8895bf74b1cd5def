package dev.lamina.digest;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.util.HexFormat;

/** Hashes and counts every byte read through it. */
public final class DigestingInputStream extends FilterInputStream {
  private final String algorithm;
  private final MessageDigest digest;
  private long count;

  /** Hashes with SHA-256, the algorithm of diff IDs and of the blobs lamina writes. */
  public DigestingInputStream(InputStream in) {
    this(in, "sha256", Digest.newSha256(), 0);
  }

  /**
   * Goes on hashing into {@code state}, a digest of {@code algorithm} (as digests name it:
   * sha256) that earlier bytes, {@code alreadyRead} of them, were fed to: a resumed download.
   */
  public DigestingInputStream(InputStream in, String algorithm, MessageDigest state, long alreadyRead) {
    super(in);
    this.algorithm = algorithm;
    this.digest = state;
    this.count = alreadyRead;
  }

  @Override
  public int read() throws IOException {
    int b = in.read();
    if (b >= 0) {
      digest.update((byte) b);
      count++;
    }
    return b;
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    int n = in.read(b, off, len);
    if (n > 0) {
      digest.update(b, off, n);
      count += n;
    }
    return n;
  }

  @Override
  public long skip(long n) throws IOException {
    // Skipped bytes must still be hashed.
    if (n <= 0) {
      return 0;
    }
    byte[] buf = new byte[(int) Math.min(n, 64 * 1024)];
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

  /** Reads to the end so trailing bytes after the tar end-of-archive count too. */
  public void drain() throws IOException {
    byte[] buf = new byte[64 * 1024];
    while (read(buf, 0, buf.length) >= 0) {
      // keep hashing
    }
  }

  /** Bytes hashed so far, counting any {@code alreadyRead}. */
  public long count() {
    return count;
  }

  /** The digest of what was read so far; call once, at the end. */
  public Digest digest() {
    return new Digest(algorithm, HexFormat.of().formatHex(digest.digest()));
  }
}
