package dev.lamina.compression;

import com.github.luben.zstd.ZstdInputStreamNoFinalizer;
import com.github.luben.zstd.ZstdOutputStreamNoFinalizer;
import dev.lamina.oci.MediaTypes;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

/** The compressions an OCI layer may use, recognised by their magic bytes. */
public enum Compression {
  NONE(MediaTypes.OCI_LAYER),
  GZIP(MediaTypes.OCI_LAYER_GZIP),
  ZSTD(MediaTypes.OCI_LAYER_ZSTD);

  private static final int BUFFER = 128 * 1024;

  private final String ociMediaType;

  Compression(String ociMediaType) {
    this.ociMediaType = ociMediaType;
  }

  public String ociMediaType() {
    return ociMediaType;
  }

  /** Detects the compression from the first bytes of a stream that supports mark/reset. */
  public static Compression detect(InputStream in) throws IOException {
    if (!in.markSupported()) {
      throw new IllegalArgumentException("detect needs a stream with mark/reset");
    }
    in.mark(4);
    byte[] magic = in.readNBytes(4);
    in.reset();
    return detect(magic);
  }

  public static Compression detect(byte[] magic) {
    if (magic.length >= 2 && (magic[0] & 0xff) == 0x1f && (magic[1] & 0xff) == 0x8b) {
      return GZIP;
    }
    if (magic.length >= 4
        && (magic[0] & 0xff) == 0x28
        && (magic[1] & 0xff) == 0xb5
        && (magic[2] & 0xff) == 0x2f
        && (magic[3] & 0xff) == 0xfd) {
      return ZSTD;
    }
    return NONE;
  }

  /** Parses the names users type: gzip, zstd, none (also "uncompressed"). */
  public static Compression parse(String name) {
    return switch (name.toLowerCase(java.util.Locale.ROOT)) {
      case "gzip", "gz" -> GZIP;
      case "zstd", "zst" -> ZSTD;
      case "none", "uncompressed", "tar" -> NONE;
      default -> throw new IllegalArgumentException(
          "unknown compression \"" + name + "\": want gzip, zstd or none");
    };
  }

  /**
   * Wraps {@code in} with a decompressor after sniffing its magic bytes. Truncated or corrupt input
   * makes a later read fail with an IOException.
   */
  public static InputStream decompress(InputStream in) throws IOException {
    BufferedInputStream buffered = sniffable(in);
    return detect(buffered).decompressor(buffered);
  }

  /** {@code in} buffered as {@link #decompress} reads it, so that {@link #detect} can look ahead. */
  public static BufferedInputStream sniffable(InputStream in) {
    return new BufferedInputStream(in, BUFFER);
  }

  public InputStream decompressor(InputStream in) throws IOException {
    return switch (this) {
      case NONE -> in;
      case GZIP -> new CorruptionReporting(new GZIPInputStream(in, BUFFER), this);
      case ZSTD -> new CorruptionReporting(new ZstdInputStreamNoFinalizer(in), this);
    };
  }

  /**
   * Turns the decompressors' own exceptions for bad input into INVALID_ARGUMENT errors that say
   * so; errors of the stream underneath (a dropped download) pass unchanged.
   */
  private static final class CorruptionReporting extends java.io.FilterInputStream {
    private final Compression compression;

    CorruptionReporting(InputStream in, Compression compression) {
      super(in);
      this.compression = compression;
    }

    @Override
    public int read() throws IOException {
      try {
        return in.read();
      } catch (IOException e) {
        throw classify(e);
      }
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      try {
        return in.read(b, off, len);
      } catch (IOException e) {
        throw classify(e);
      }
    }

    private IOException classify(IOException e) {
      if (e instanceof java.io.EOFException
          || e instanceof java.util.zip.ZipException
          || e instanceof com.github.luben.zstd.ZstdIOException) {
        return dev.lamina.errdefs.LaminaException.invalidArgument(
            "corrupt or truncated " + compression + " stream: " + e.getMessage());
      }
      return e;
    }
  }

  /** A compressor that writes to {@code out}; closing it finishes the stream and closes {@code out}. */
  public OutputStream compressor(OutputStream out) throws IOException {
    return switch (this) {
      case NONE -> out;
      case GZIP -> new GZIPOutputStream(out, BUFFER);
      case ZSTD -> new ZstdOutputStreamNoFinalizer(out, 3);
    };
  }

  @Override
  public String toString() {
    return name().toLowerCase(java.util.Locale.ROOT);
  }
}
