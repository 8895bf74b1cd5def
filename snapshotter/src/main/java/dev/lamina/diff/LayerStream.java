package dev.lamina.diff;

import dev.lamina.archive.TarWriter;
import dev.lamina.compression.Compression;
import dev.lamina.digest.Digest;
import java.io.BufferedOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.security.MessageDigest;

/**
 * The output side shared by the comparers: tar -> count and hash (diff ID) -> compress -> count
 * and hash (blob digest) -> the caller's stream, which is flushed but never closed.
 */
final class LayerStream {
  private static final int BUFFER = 64 * 1024;

  private LayerStream() {}

  /** Writes the entries of one layer. */
  @FunctionalInterface
  interface Body {
    void writeTo(TarWriter tar) throws IOException;
  }

  static DiffResult write(Compression compression, OutputStream out, Body body) throws IOException {
    Hashing blob = new Hashing(new KeepOpen(out));
    OutputStream compressor = compression.compressor(blob);
    // Uncompressed, the blob is the tar: hash it once.
    Hashing tar = compression == Compression.NONE ? blob : new Hashing(compressor);
    BufferedOutputStream buffered = new BufferedOutputStream(tar, BUFFER);
    boolean done = false;
    try {
      TarWriter writer = new TarWriter(buffered);
      body.writeTo(writer);
      writer.finish();
      buffered.flush();
      done = true;
    } finally {
      // Closing ends the compressed stream (and frees zstd's native buffers); on failure the bytes
      // written are garbage anyway, so a second error must not hide the first.
      if (done) {
        compressor.close();
      } else {
        try {
          compressor.close();
        } catch (IOException | RuntimeException ignored) {
          // the first error is the one worth reporting
        }
      }
    }
    Digest blobDigest = blob.digest();
    Digest diffId = tar == blob ? blobDigest : tar.digest();
    return new DiffResult(blobDigest, blob.count, diffId, tar.count, compression.ociMediaType());
  }

  /** Counts and hashes (SHA-256) every byte written through it. */
  private static final class Hashing extends FilterOutputStream {
    private final MessageDigest sha256 = Digest.newSha256();
    private long count;

    Hashing(OutputStream out) {
      super(out);
    }

    @Override
    public void write(int b) throws IOException {
      out.write(b);
      sha256.update((byte) b);
      count++;
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      out.write(b, off, len);
      sha256.update(b, off, len);
      count += len;
    }

    Digest digest() {
      return Digest.sha256(sha256.digest());
    }
  }

  /** The caller owns its stream: closing the compressor must only flush it. */
  private static final class KeepOpen extends FilterOutputStream {
    KeepOpen(OutputStream out) {
      super(out);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      out.write(b, off, len);
    }

    @Override
    public void close() throws IOException {
      out.flush();
    }
  }
}
