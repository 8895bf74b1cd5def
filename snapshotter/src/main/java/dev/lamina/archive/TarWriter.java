package dev.lamina.archive;

import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes a deterministic tar stream: ustar headers, with a PAX header only where ustar cannot say
 * it (long names, large ids or sizes, xattrs). Equal entries give equal bytes: no user or group
 * names, whole-second mtimes, no atime or ctime.
 */
public final class TarWriter implements Closeable {
  private static final int BLOCK = TarReader.BLOCK;
  private static final long MAX_OCTAL_7 = 07777777L;
  private static final long MAX_OCTAL_11 = 077777777777L;

  private final OutputStream out;
  private final byte[] copyBuffer = new byte[128 * 1024];
  private boolean finished;

  public TarWriter(OutputStream out) {
    this.out = out;
  }

  /** Writes a header and, for regular files, exactly {@code entry.size()} bytes of content. */
  public void write(TarEntry entry, InputStream content) throws IOException {
    Map<String, byte[]> pax = new LinkedHashMap<>();
    byte[] header = new byte[BLOCK];

    byte[] name = entry.name().getBytes(StandardCharsets.UTF_8);
    if (!splitName(name, header)) {
      pax.put("path", name);
      putBytes(header, 0, 100, Arrays.copyOf(name, Math.min(name.length, 100)));
    }
    byte[] link = entry.linkName().getBytes(StandardCharsets.UTF_8);
    if (link.length > 100) {
      pax.put("linkpath", link);
      putBytes(header, 157, 100, Arrays.copyOf(link, 100));
    } else {
      putBytes(header, 157, 100, link);
    }
    putOctal(header, 100, 8, entry.mode() & 07777);
    putId(header, 108, entry.uid() & 0xffffffffL, "uid", pax);
    putId(header, 116, entry.gid() & 0xffffffffL, "gid", pax);
    long size = entry.type() == TarEntry.Type.REGULAR ? entry.size() : 0;
    if (size > MAX_OCTAL_11) {
      pax.put("size", ascii(Long.toString(size)));
      putOctal(header, 124, 12, 0);
    } else {
      putOctal(header, 124, 12, size);
    }
    long seconds = Math.floorDiv(entry.mtimeNanos(), 1_000_000_000L);
    if (seconds < 0 || seconds > MAX_OCTAL_11) {
      pax.put("mtime", ascii(Long.toString(seconds)));
      putOctal(header, 136, 12, 0);
    } else {
      putOctal(header, 136, 12, seconds);
    }
    header[156] = (byte) entry.type().flag();
    putBytes(header, 257, 6, new byte[] {'u', 's', 't', 'a', 'r', 0});
    header[263] = '0';
    header[264] = '0';
    if (entry.type() == TarEntry.Type.CHAR_DEVICE || entry.type() == TarEntry.Type.BLOCK_DEVICE) {
      putOctal(header, 329, 8, entry.devMajor());
      putOctal(header, 337, 8, entry.devMinor());
    }
    for (Map.Entry<String, byte[]> x : entry.xattrs().entrySet()) {
      pax.put("SCHILY.xattr." + x.getKey(), x.getValue());
    }
    if (!pax.isEmpty()) {
      writePax(entry.name(), pax);
    }
    checksum(header);
    out.write(header);
    if (size > 0) {
      copy(content, size, entry.name());
    }
  }

  /** Writes the end-of-archive marker (two zero blocks). Idempotent. */
  public void finish() throws IOException {
    if (!finished) {
      out.write(new byte[BLOCK * 2]);
      finished = true;
    }
  }

  @Override
  public void close() throws IOException {
    finish();
    out.close();
  }

  private void copy(InputStream content, long size, String name) throws IOException {
    long left = size;
    while (left > 0) {
      int r = content.read(copyBuffer, 0, (int) Math.min(copyBuffer.length, left));
      if (r < 0) {
        throw new IOException(name + " shrank while being written: " + left + " of " + size + " bytes missing");
      }
      out.write(copyBuffer, 0, r);
      left -= r;
    }
    int pad = (int) ((BLOCK - (size % BLOCK)) % BLOCK);
    if (pad > 0) {
      out.write(new byte[pad]);
    }
  }

  private void writePax(String entryName, Map<String, byte[]> records) throws IOException {
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    for (Map.Entry<String, byte[]> r : records.entrySet()) {
      byte[] key = r.getKey().getBytes(StandardCharsets.UTF_8);
      int fixed = 1 + key.length + 1 + r.getValue().length + 1; // ' ' key '=' value '\n'
      int len = fixed + Integer.toString(fixed).length();
      if (Integer.toString(len).length() != Integer.toString(fixed).length()) {
        len = fixed + Integer.toString(len).length();
      }
      body.write(ascii(Integer.toString(len)));
      body.write(' ');
      body.write(key);
      body.write('=');
      body.write(r.getValue());
      body.write('\n');
    }
    byte[] data = body.toByteArray();
    byte[] header = new byte[BLOCK];
    String base = entryName.endsWith("/") ? entryName.substring(0, entryName.length() - 1) : entryName;
    base = base.substring(base.lastIndexOf('/') + 1);
    byte[] paxName = ("PaxHeaders/" + base).getBytes(StandardCharsets.UTF_8);
    putBytes(header, 0, 100, Arrays.copyOf(paxName, Math.min(100, paxName.length)));
    putOctal(header, 100, 8, 0644);
    putOctal(header, 108, 8, 0);
    putOctal(header, 116, 8, 0);
    putOctal(header, 124, 12, data.length);
    putOctal(header, 136, 12, 0);
    header[156] = 'x';
    putBytes(header, 257, 6, new byte[] {'u', 's', 't', 'a', 'r', 0});
    header[263] = '0';
    header[264] = '0';
    checksum(header);
    out.write(header);
    copy(new java.io.ByteArrayInputStream(data), data.length, "PAX header");
  }

  /** Puts the name in ustar's name or prefix/name fields; false when it does not fit. */
  private static boolean splitName(byte[] name, byte[] header) {
    if (name.length <= 100) {
      putBytes(header, 0, 100, name);
      return true;
    }
    for (int i = Math.min(name.length - 1, 155); i > 0; i--) {
      if (name[i] == '/' && name.length - i - 1 <= 100 && name.length - i - 1 > 0) {
        putBytes(header, 345, 155, Arrays.copyOf(name, i));
        putBytes(header, 0, 100, Arrays.copyOfRange(name, i + 1, name.length));
        return true;
      }
    }
    return false;
  }

  private static void putId(byte[] header, int off, long id, String key, Map<String, byte[]> pax) {
    if (id > MAX_OCTAL_7) {
      pax.put(key, ascii(Long.toString(id)));
      putOctal(header, off, 8, 0);
    } else {
      putOctal(header, off, 8, id);
    }
  }

  private static void putOctal(byte[] header, int off, int len, long value) {
    String s = Long.toOctalString(value);
    int digits = len - 1;
    StringBuilder b = new StringBuilder(digits);
    for (int i = s.length(); i < digits; i++) {
      b.append('0');
    }
    b.append(s);
    byte[] bytes = ascii(b.toString());
    System.arraycopy(bytes, 0, header, off, digits);
    header[off + digits] = 0;
  }

  private static void putBytes(byte[] header, int off, int len, byte[] value) {
    System.arraycopy(value, 0, header, off, Math.min(len, value.length));
  }

  private static void checksum(byte[] header) {
    Arrays.fill(header, 148, 156, (byte) ' ');
    long sum = 0;
    for (byte b : header) {
      sum += b & 0xff;
    }
    String s = String.format("%06o", sum);
    byte[] bytes = ascii(s);
    System.arraycopy(bytes, 0, header, 148, 6);
    header[154] = 0;
    header[155] = ' ';
  }

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }
}
