package dev.lamina.archive;

import dev.lamina.errdefs.LaminaException;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * Reads a tar stream: ustar, GNU long names ({@code L}/{@code K}) and PAX headers (local and
 * global). Written here rather than taken from commons-compress because PAX values must stay raw
 * bytes: {@code SCHILY.xattr.security.capability} is binary, and decoding it as UTF-8 would
 * corrupt it.
 *
 * <p>Every malformed header is an error that says where it was; nothing is guessed.
 */
public final class TarReader {
  static final int BLOCK = 512;
  /** Bound on PAX and GNU long-name payloads: no legitimate header comes near it. */
  static final int MAX_EXTENDED_HEADER = 1 << 20;

  private final InputStream in;
  private final byte[] header = new byte[BLOCK];
  private final Map<String, byte[]> globalPax = new HashMap<>();
  private long offset;
  private long remaining;
  private long padding;
  /** Bytes the archive holds after the current header, whatever the entry type. */
  private long dataSize;
  private TarEntry current;
  private boolean done;
  private final EntryStream entryStream = new EntryStream();

  public TarReader(InputStream in) {
    this.in = in;
  }

  /** Bytes consumed from the underlying stream so far. */
  public long offset() {
    return offset;
  }

  /** The next entry, or null at the end of the archive. */
  public TarEntry next() throws IOException {
    if (done) {
      return null;
    }
    skipRest();
    Map<String, byte[]> pax = null;
    byte[] longName = null;
    byte[] longLink = null;
    while (true) {
      long headerOffset = offset;
      if (!readBlock(header, true)) {
        // A stream that ends on a block boundary without the end marker: accepted, as GNU tar does.
        done = true;
        return null;
      }
      if (isZero(header)) {
        // End-of-archive: a second zero block may follow; whatever follows is left to the caller.
        done = true;
        return null;
      }
      verifyChecksum(headerOffset);
      char flag = (char) (header[156] & 0xff);
      long size = parseNumeric(header, 124, 12, "size", headerOffset);
      if (size < 0) {
        throw invalid(headerOffset, "negative size");
      }
      switch (flag) {
        case 'x', 'X' -> {
          pax = readPax(size, headerOffset, pax == null ? new HashMap<>() : pax);
          continue;
        }
        case 'g' -> {
          readPax(size, headerOffset, globalPax);
          continue;
        }
        case 'L' -> {
          longName = trimNul(readExtended(size, headerOffset, "GNU long name"));
          continue;
        }
        case 'K' -> {
          longLink = trimNul(readExtended(size, headerOffset, "GNU long link name"));
          continue;
        }
        default -> {
          // a real entry
        }
      }
      current = build(flag, size, headerOffset, merge(pax), longName, longLink);
      remaining = dataSize;
      padding = padOf(dataSize);
      return current;
    }
  }

  /** The content of the current entry; reading past its size gives end-of-stream. */
  public InputStream content() {
    return entryStream;
  }

  private Map<String, byte[]> merge(Map<String, byte[]> local) {
    if (globalPax.isEmpty()) {
      return local == null ? Map.of() : local;
    }
    Map<String, byte[]> all = new HashMap<>(globalPax);
    if (local != null) {
      all.putAll(local);
    }
    return all;
  }

  private TarEntry build(
      char flag, long size, long at, Map<String, byte[]> pax, byte[] longName, byte[] longLink)
      throws IOException {
    boolean ustar = header[257] == 'u' && header[258] == 's' && header[259] == 't'
        && header[260] == 'a' && header[261] == 'r' && header[262] == 0;
    String name;
    if (pax.containsKey("path")) {
      name = utf8(pax.get("path"));
    } else if (longName != null) {
      name = utf8(longName);
    } else {
      name = cString(header, 0, 100);
      String prefix = ustar ? cString(header, 345, 155) : "";
      if (!prefix.isEmpty()) {
        name = prefix + "/" + name;
      }
    }
    String link = pax.containsKey("linkpath") ? utf8(pax.get("linkpath"))
        : longLink != null ? utf8(longLink) : cString(header, 157, 100);

    TarEntry.Type type = switch (flag) {
      case '0', '\0', '7' -> TarEntry.Type.REGULAR;
      case '1' -> TarEntry.Type.HARDLINK;
      case '2' -> TarEntry.Type.SYMLINK;
      case '3' -> TarEntry.Type.CHAR_DEVICE;
      case '4' -> TarEntry.Type.BLOCK_DEVICE;
      case '5' -> TarEntry.Type.DIRECTORY;
      case '6' -> TarEntry.Type.FIFO;
      case 'S' -> throw unsupported(at, name, "GNU sparse files are not supported in layers");
      default -> throw unsupported(at, name, "unsupported entry type '" + printable(flag) + "'");
    };
    if (flag == '\0' && name.endsWith("/")) {
      // Old V7 archives mark directories only by the trailing slash.
      type = TarEntry.Type.DIRECTORY;
    }
    for (String key : pax.keySet()) {
      if (key.startsWith("GNU.sparse.")) {
        throw unsupported(at, name, "GNU sparse files are not supported in layers");
      }
    }

    long mode = parseNumeric(header, 100, 8, "mode", at);
    long uid = pax.containsKey("uid") ? paxLong(pax, "uid", at) : parseNumeric(header, 108, 8, "uid", at);
    long gid = pax.containsKey("gid") ? paxLong(pax, "gid", at) : parseNumeric(header, 116, 8, "gid", at);
    if (pax.containsKey("size")) {
      size = paxLong(pax, "size", at);
      if (size < 0) {
        throw invalid(at, "negative PAX size in " + name);
      }
    }
    dataSize = size;
    if (uid < 0 || uid > 0xffffffffL || gid < 0 || gid > 0xffffffffL) {
      throw invalid(at, "uid/gid out of range in " + name);
    }
    long mtime = pax.containsKey("mtime")
        ? paxTime(pax.get("mtime"), at)
        : parseNumeric(header, 136, 12, "mtime", at) * 1_000_000_000L;
    String uname = pax.containsKey("uname") ? utf8(pax.get("uname")) : cString(header, 265, 32);
    String gname = pax.containsKey("gname") ? utf8(pax.get("gname")) : cString(header, 297, 32);
    int major = 0;
    int minor = 0;
    if (type == TarEntry.Type.CHAR_DEVICE || type == TarEntry.Type.BLOCK_DEVICE) {
      major = (int) parseNumeric(header, 329, 8, "devmajor", at);
      minor = (int) parseNumeric(header, 337, 8, "devminor", at);
    }
    TreeMap<String, byte[]> xattrs = new TreeMap<>();
    for (Map.Entry<String, byte[]> e : pax.entrySet()) {
      if (e.getKey().startsWith("SCHILY.xattr.")) {
        xattrs.put(e.getKey().substring("SCHILY.xattr.".length()), e.getValue());
      }
    }
    if (type != TarEntry.Type.REGULAR) {
      // Only regular files carry content; the size of other entries is skipped, never applied.
      return new TarEntry(name, type, (int) (mode & 07777), (int) uid, (int) gid, uname, gname, 0, mtime,
          link, major, minor, xattrs);
    }
    return new TarEntry(name, type, (int) (mode & 07777), (int) uid, (int) gid, uname, gname, size, mtime,
        link, major, minor, xattrs);
  }

  private Map<String, byte[]> readPax(long size, long at, Map<String, byte[]> into) throws IOException {
    byte[] data = readExtended(size, at, "PAX header");
    int pos = 0;
    while (pos < data.length) {
      if (data[pos] == 0) {
        break; // some writers pad the record block with NULs
      }
      int space = indexOf(data, (byte) ' ', pos);
      if (space < 0) {
        throw invalid(at, "PAX record without length");
      }
      int len;
      try {
        len = Integer.parseInt(new String(data, pos, space - pos, StandardCharsets.US_ASCII));
      } catch (NumberFormatException e) {
        throw invalid(at, "PAX record length is not a number");
      }
      int end = pos + len;
      if (len <= 0 || end > data.length || data[end - 1] != '\n') {
        throw invalid(at, "malformed PAX record");
      }
      int eq = indexOf(data, (byte) '=', space + 1);
      if (eq < 0 || eq >= end) {
        throw invalid(at, "PAX record without '='");
      }
      String key = new String(data, space + 1, eq - space - 1, StandardCharsets.UTF_8);
      byte[] value = java.util.Arrays.copyOfRange(data, eq + 1, end - 1);
      if (value.length == 0 && !key.startsWith("SCHILY.xattr.")) {
        into.remove(key); // an empty value deletes a global setting
      } else {
        into.put(key, value);
      }
      pos = end;
    }
    return into;
  }

  private byte[] readExtended(long size, long at, String what) throws IOException {
    if (size > MAX_EXTENDED_HEADER) {
      throw invalid(at, what + " of " + size + " bytes exceeds the limit of " + MAX_EXTENDED_HEADER);
    }
    byte[] data = new byte[(int) size];
    readFully(data, 0, data.length, "truncated " + what);
    skipFully(padOf(size), "truncated " + what);
    return data;
  }

  private void skipRest() throws IOException {
    if (current != null) {
      skipFully(remaining + padding, "truncated content of " + current.name());
      remaining = 0;
      padding = 0;
      current = null;
    }
  }

  private boolean readBlock(byte[] block, boolean eofAllowed) throws IOException {
    int n = 0;
    while (n < BLOCK) {
      int r = in.read(block, n, BLOCK - n);
      if (r < 0) {
        if (n == 0 && eofAllowed) {
          return false;
        }
        throw truncated("truncated tar header at offset " + (offset + n));
      }
      n += r;
    }
    offset += BLOCK;
    return true;
  }

  private void readFully(byte[] b, int off, int len, String what) throws IOException {
    int n = 0;
    while (n < len) {
      int r = in.read(b, off + n, len - n);
      if (r < 0) {
        throw truncated(what + " at offset " + (offset + n));
      }
      n += r;
    }
    offset += len;
  }

  private final byte[] skipBuffer = new byte[64 * 1024];

  private void skipFully(long len, String what) throws IOException {
    // Read rather than skip: the bytes must pass through the caller's digest.
    while (len > 0) {
      int r = in.read(skipBuffer, 0, (int) Math.min(skipBuffer.length, len));
      if (r < 0) {
        throw truncated(what + " at offset " + offset);
      }
      len -= r;
      offset += r;
    }
  }

  private void verifyChecksum(long at) throws IOException {
    long stored = parseNumeric(header, 148, 8, "checksum", at);
    long unsigned = 0;
    long signed = 0;
    for (int i = 0; i < BLOCK; i++) {
      int b = (i >= 148 && i < 156) ? ' ' : header[i];
      unsigned += b & 0xff;
      signed += (byte) b;
    }
    if (stored != unsigned && stored != signed) {
      throw invalid(at, "header checksum mismatch (not a tar stream, or corrupt)");
    }
  }

  private static long parseNumeric(byte[] h, int off, int len, String field, long at) throws IOException {
    if ((h[off] & 0x80) != 0) {
      // base-256: big-endian two's complement; the first byte's top bit is the marker.
      boolean negative = (h[off] & 0x40) != 0;
      long v = negative ? -1L : 0L;
      int start = off;
      if (len > 9) {
        for (int i = off; i < off + len - 8; i++) {
          int expect = i == off ? (negative ? 0xff : 0x80) : (negative ? 0xff : 0);
          if ((h[i] & 0xff) != expect) {
            throw invalid(at, field + " does not fit in 64 bits");
          }
        }
        start = off + len - 8;
        v = 0;
        for (int i = start; i < off + len; i++) {
          v = (v << 8) | (h[i] & 0xff);
        }
        return v;
      }
      v = (h[off] & 0x7f) | (negative ? ~0x7fL : 0);
      for (int i = off + 1; i < off + len; i++) {
        v = (v << 8) | (h[i] & 0xff);
      }
      return v;
    }
    long v = 0;
    int i = off;
    int end = off + len;
    while (i < end && (h[i] == ' ' || h[i] == 0)) {
      i++;
    }
    boolean any = false;
    for (; i < end; i++) {
      byte b = h[i];
      if (b == ' ' || b == 0) {
        break;
      }
      if (b < '0' || b > '7') {
        throw invalid(at, "invalid octal " + field);
      }
      v = (v << 3) | (b - '0');
      any = true;
      if (v < 0) {
        throw invalid(at, field + " overflows");
      }
    }
    return any ? v : 0;
  }

  private static long paxLong(Map<String, byte[]> pax, String key, long at) throws IOException {
    String s = new String(pax.get(key), StandardCharsets.US_ASCII);
    try {
      return Long.parseLong(s);
    } catch (NumberFormatException e) {
      throw invalid(at, "PAX " + key + " is not a number: " + s);
    }
  }

  private static long paxTime(byte[] raw, long at) throws IOException {
    String s = new String(raw, StandardCharsets.US_ASCII);
    try {
      java.math.BigDecimal seconds = new java.math.BigDecimal(s);
      return seconds.movePointRight(9).setScale(0, java.math.RoundingMode.FLOOR).longValueExact();
    } catch (NumberFormatException | ArithmeticException e) {
      throw invalid(at, "PAX mtime is not a time: " + s);
    }
  }

  private static String cString(byte[] h, int off, int len) {
    int end = off;
    while (end < off + len && h[end] != 0) {
      end++;
    }
    return new String(h, off, end - off, StandardCharsets.UTF_8);
  }

  private static byte[] trimNul(byte[] b) {
    int end = b.length;
    while (end > 0 && b[end - 1] == 0) {
      end--;
    }
    return java.util.Arrays.copyOf(b, end);
  }

  private static String utf8(byte[] b) {
    return new String(b, StandardCharsets.UTF_8);
  }

  private static boolean isZero(byte[] b) {
    for (byte x : b) {
      if (x != 0) {
        return false;
      }
    }
    return true;
  }

  private static int indexOf(byte[] b, byte x, int from) {
    for (int i = from; i < b.length; i++) {
      if (b[i] == x) {
        return i;
      }
    }
    return -1;
  }

  private static long padOf(long size) {
    return (BLOCK - (size % BLOCK)) % BLOCK;
  }

  private static String printable(char c) {
    return c >= 0x20 && c < 0x7f ? String.valueOf(c) : String.format("\\x%02x", (int) c);
  }

  private static LaminaException invalid(long at, String reason) {
    return LaminaException.invalidArgument("invalid tar header at offset " + at + ": " + reason);
  }

  private static LaminaException unsupported(long at, String name, String reason) {
    return LaminaException.invalidArgument("tar entry \"" + name + "\" at offset " + at + ": " + reason);
  }

  private static LaminaException truncated(String what) {
    return new LaminaException(dev.lamina.errdefs.ErrorKind.INVALID_ARGUMENT, what,
        new EOFException(what));
  }

  /** The current entry's bytes, bounded by its size. */
  private final class EntryStream extends InputStream {
    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      int n = read(one, 0, 1);
      return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (remaining <= 0) {
        return -1;
      }
      int r = in.read(b, off, (int) Math.min(len, remaining));
      if (r < 0) {
        throw truncated("truncated content of " + current.name() + " (" + remaining + " bytes missing)");
      }
      remaining -= r;
      offset += r;
      return r;
    }
  }
}
