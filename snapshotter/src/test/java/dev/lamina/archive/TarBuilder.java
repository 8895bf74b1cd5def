package dev.lamina.archive;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * Builds tar streams for tests: well-formed entries through {@link TarWriter}, malformed pieces as
 * raw bytes ({@link #raw}, {@link #rawHeader}, {@link #rawPax}) appended in order.
 *
 * <pre>{@code
 * byte[] tar = new TarBuilder().dir("a/").symlink("a/l", "/etc").file("a/l/passwd", "x").build();
 * }</pre>
 */
final class TarBuilder {
  static final int BLOCK = 512;
  /** A fixed mtime (2020-09-13) so archives are reproducible. */
  static final long MTIME = 1_600_000_000L * 1_000_000_000L;

  private final ByteArrayOutputStream out = new ByteArrayOutputStream();
  private final TarWriter writer = new TarWriter(out);

  TarBuilder dir(String name) {
    return dir(name, 0755);
  }

  TarBuilder dir(String name, int mode) {
    return entry(TarEntry.directory(name, mode, 0, 0, MTIME), null);
  }

  TarBuilder file(String name, String content) {
    return file(name, content.getBytes(StandardCharsets.UTF_8), 0644);
  }

  TarBuilder file(String name, byte[] content, int mode) {
    return entry(TarEntry.file(name, content.length, mode, 0, 0, MTIME), content);
  }

  TarBuilder symlink(String name, String target) {
    return entry(special(name, TarEntry.Type.SYMLINK, 0777, target, 0, 0), null);
  }

  /** A hard link {@code name} to the earlier entry {@code target}. */
  TarBuilder hardlink(String name, String target) {
    return entry(special(name, TarEntry.Type.HARDLINK, 0644, target, 0, 0), null);
  }

  TarBuilder chardev(String name, int major, int minor) {
    return entry(special(name, TarEntry.Type.CHAR_DEVICE, 0666, "", major, minor), null);
  }

  TarBuilder fifo(String name) {
    return entry(special(name, TarEntry.Type.FIFO, 0644, "", 0, 0), null);
  }

  /** An entry with xattrs (written as {@code SCHILY.xattr.*} PAX records). */
  TarBuilder withXattr(TarEntry entry, byte[] content, String xattr, String value) {
    return entry(entry.withXattrs(Map.of(xattr, value.getBytes(StandardCharsets.UTF_8))), content);
  }

  TarBuilder entry(TarEntry e, byte[] content) {
    try {
      InputStream in = content == null ? InputStream.nullInputStream() : new ByteArrayInputStream(content);
      writer.write(e, in);
    } catch (IOException x) {
      throw new UncheckedIOException(x);
    }
    return this;
  }

  /** Appends bytes as they are: hand-made headers, content, garbage. */
  TarBuilder raw(byte[] bytes) {
    out.writeBytes(bytes);
    return this;
  }

  /** Appends {@code content} padded with NULs to a whole number of blocks. */
  TarBuilder rawContent(byte[] content) {
    out.writeBytes(content);
    out.writeBytes(new byte[padOf(content.length)]);
    return this;
  }

  /** The archive with its end-of-archive marker. */
  byte[] build() {
    try {
      writer.finish();
    } catch (IOException x) {
      throw new UncheckedIOException(x);
    }
    return out.toByteArray();
  }

  /** The bytes so far, without an end-of-archive marker. */
  byte[] buildUnterminated() {
    return out.toByteArray();
  }

  static TarEntry special(String name, TarEntry.Type type, int mode, String link, int major, int minor) {
    return new TarEntry(name, type, mode, 0, 0, "", "", 0, MTIME, link, major, minor, new TreeMap<>());
  }

  /**
   * A ustar header block with a correct checksum: {@code name} is cut to 100 bytes, {@code size}
   * written in octal as given (it may lie about what follows).
   */
  static byte[] rawHeader(String name, char flag, long size, String linkName) {
    byte[] h = new byte[BLOCK];
    put(h, 0, 100, name.getBytes(StandardCharsets.UTF_8));
    octal(h, 100, 8, 0644);
    octal(h, 108, 8, 0);
    octal(h, 116, 8, 0);
    octal(h, 124, 12, size);
    octal(h, 136, 12, MTIME / 1_000_000_000L);
    h[156] = (byte) flag;
    put(h, 157, 100, linkName.getBytes(StandardCharsets.UTF_8));
    put(h, 257, 6, new byte[] {'u', 's', 't', 'a', 'r', 0});
    h[263] = '0';
    h[264] = '0';
    checksum(h);
    return h;
  }

  /** A PAX extended header ({@code x}) with the given records, padded to whole blocks. */
  static byte[] rawPax(Map<String, byte[]> records) {
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    for (Map.Entry<String, byte[]> r : records.entrySet()) {
      byte[] key = r.getKey().getBytes(StandardCharsets.UTF_8);
      int fixed = 1 + key.length + 1 + r.getValue().length + 1;
      int len = fixed + Integer.toString(fixed).length();
      if (Integer.toString(len).length() != Integer.toString(fixed).length()) {
        len = fixed + Integer.toString(len).length();
      }
      body.writeBytes(Integer.toString(len).getBytes(StandardCharsets.US_ASCII));
      body.write(' ');
      body.writeBytes(key);
      body.write('=');
      body.writeBytes(r.getValue());
      body.write('\n');
    }
    byte[] data = body.toByteArray();
    ByteArrayOutputStream all = new ByteArrayOutputStream();
    all.writeBytes(rawHeader("PaxHeaders/x", 'x', data.length, ""));
    all.writeBytes(data);
    all.writeBytes(new byte[padOf(data.length)]);
    return all.toByteArray();
  }

  static Map<String, byte[]> records(String... keyValues) {
    Map<String, byte[]> m = new LinkedHashMap<>();
    for (int i = 0; i < keyValues.length; i += 2) {
      m.put(keyValues[i], keyValues[i + 1].getBytes(StandardCharsets.UTF_8));
    }
    return m;
  }

  /** Recomputes the checksum of a header block after the test changed it. */
  static void checksum(byte[] h) {
    Arrays.fill(h, 148, 156, (byte) ' ');
    long sum = 0;
    for (byte b : h) {
      sum += b & 0xff;
    }
    byte[] digits = String.format("%06o", sum).getBytes(StandardCharsets.US_ASCII);
    System.arraycopy(digits, 0, h, 148, 6);
    h[154] = 0;
    h[155] = ' ';
  }

  static int padOf(long size) {
    return (int) ((BLOCK - (size % BLOCK)) % BLOCK);
  }

  private static void put(byte[] h, int off, int len, byte[] value) {
    System.arraycopy(value, 0, h, off, Math.min(len, value.length));
  }

  private static void octal(byte[] h, int off, int len, long value) {
    String s = String.format("%0" + (len - 1) + "o", value);
    put(h, off, len - 1, s.getBytes(StandardCharsets.US_ASCII));
    h[off + len - 1] = 0;
  }
}
