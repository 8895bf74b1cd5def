package dev.lamina.archive;

import static dev.lamina.archive.LayerFixture.T;
import static dev.lamina.archive.LayerFixture.blockdevEntry;
import static dev.lamina.archive.LayerFixture.chardevEntry;
import static dev.lamina.archive.LayerFixture.dirEntry;
import static dev.lamina.archive.LayerFixture.fifoEntry;
import static dev.lamina.archive.LayerFixture.fileEntry;
import static dev.lamina.archive.LayerFixture.hardlinkEntry;
import static dev.lamina.archive.LayerFixture.symlinkEntry;
import static dev.lamina.archive.LayerFixture.tar;
import static dev.lamina.fstest.FsTree.dir;
import static dev.lamina.fstest.FsTree.file;
import static dev.lamina.fstest.FsTree.link;
import static dev.lamina.fstest.FsTree.mtime;
import static dev.lamina.fstest.FsTree.symlink;
import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.archive.LayerFixture.Item;
import dev.lamina.fstest.FsTree;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * TarWriter and TarReader against independent implementations: GNU tar ({@code tar -tvf}) and
 * commons-compress read what TarWriter writes, and TarReader reads what they write.
 */
class TarReaderWriterTest {
  private static final DateTimeFormatter LISTING_TIME =
      DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss").withZone(ZoneOffset.UTC);
  /** {@code -rw-r--r-- 0/0  5 2023-11-14 22:13:20 etc/passwd}, as GNU tar lists with --full-time. */
  private static final Pattern GNU_LISTING = Pattern.compile("^(\\S{10}) (\\d+)/(\\d+) +(\\S+) (\\S+ \\S+) (.*)$");
  private static final long S = 1_000_000_000L;
  private static final String LONG_NAME = "long/" + "n".repeat(150);
  private static final String SPLITTABLE = "a".repeat(60) + "/" + "b".repeat(60) + "/" + "c".repeat(28);
  private static final String LONG_TARGET = "../".repeat(20) + "t".repeat(150);

  @TempDir Path tmp;

  /** One of everything a layer holds, each with its own mtime. */
  private static List<Item> everyKind() {
    List<Item> items = new ArrayList<>(List.of(
        dirEntry("etc/", 0755),
        fileEntry("etc/passwd", "root:x:0:0\n", 0644),
        hardlinkEntry("etc/passwd-", "etc/passwd"),
        dirEntry("tmp/", 01777),
        fileEntry("su", "elf", 04755).owner(0, 0),
        fileEntry("wall", "elf", 02711).owner(0, 5),
        fileEntry("empty", "", 0000),
        symlinkEntry("bin", "usr/bin"),
        chardevEntry("dev/null", 1, 3, 0666),
        blockdevEntry("dev/sda", 8, 0, 0660),
        fifoEntry("run/fifo", 0600),
        fileEntry(LONG_NAME, "long", 0644),
        fileEntry(SPLITTABLE, "split", 0644),
        symlinkEntry("far", LONG_TARGET),
        hardlinkEntry("long-link", LONG_NAME),
        fileEntry("big-ids", "b", 0644).owner(3_000_000, 4_000_000),
        fileEntry("noted", "x", 0644).xattr("user.note", "hello")));
    for (int i = 0; i < items.size(); i++) {
      items.set(i, items.get(i).mtime(T + i * S));
    }
    return items;
  }

  @Test
  void gnuTarListsWhatTarWriterWrote() throws IOException {
    List<Item> items = everyKind();

    assertThat(gnuListing(tar(items))).containsExactlyElementsOf(describe(items));
  }

  @Test
  void commonsCompressReadsWhatTarWriterWrote() throws IOException {
    List<Item> items = everyKind();

    assertThat(commonsListing(tar(items))).containsExactlyElementsOf(describe(items));
  }

  @Test
  void tarReaderReadsBackWhatTarWriterWrote() throws IOException {
    List<Item> items = everyKind();

    List<Item> read = LayerFixture.read(tar(items));

    assertThat(describe(read)).containsExactlyElementsOf(describe(items));
    assertThat(read).extracting(i -> new String(i.content(), StandardCharsets.UTF_8))
        .containsExactlyElementsOf(items.stream().map(i -> new String(i.content(), StandardCharsets.UTF_8)).toList());
    assertThat(xattrs(read)).isEqualTo(xattrs(items));
  }

  @ParameterizedTest
  @ValueSource(strings = {"posix", "gnu", "ustar"})
  void tarReaderReadsWhatGnuTarWrote(String format) throws IOException {
    Path src = tmp.resolve("src");
    String longName = format.equals("ustar") ? SPLITTABLE : LONG_NAME;
    String top = longName.substring(0, longName.indexOf('/'));
    FsTree.apply(src, dir("etc", 0755), file("etc/passwd", "root", 0644), link("etc/passwd-", "etc/passwd"),
        symlink("bin", "usr/bin"), dir("tmp", 01777), file("su", "elf", 04755), file(longName, "long", 0600));
    // whole seconds everywhere: GNU tar would otherwise list (and store) the fractions
    List<String> paths = new ArrayList<>(List.of(longName, "etc/passwd", "etc/passwd-", "bin", "su", "etc", "tmp"));
    String parent = longName;
    while (parent.contains("/")) {
      parent = parent.substring(0, parent.lastIndexOf('/'));
      paths.add(parent);
    }
    for (int i = 0; i < paths.size(); i++) {
      FsTree.apply(src, mtime(paths.get(i), T + i * S));
    }
    byte[] gnu = LayerFixture.gnuTar(src, format, "etc", "bin", "tmp", "su", top);

    List<Item> read = LayerFixture.read(gnu);

    assertThat(read).extracting(i -> i.entry().name()).contains("etc/passwd", "su", longName);
    assertThat(describe(read)).containsExactlyElementsOf(gnuListing(gnu));
    assertThat(describe(read)).containsExactlyElementsOf(commonsListing(gnu));
  }

  @Test
  void equalEntriesGiveEqualBytes() throws IOException {
    assertThat(tar(everyKind())).isEqualTo(tar(everyKind()));
  }

  @Test
  void bytesDoNotDependOnSubSecondTimesOrUserNames() {
    TarEntry plain = TarEntry.file("f", 1, 0644, 1000, 1000, T);
    TarEntry noisy = new TarEntry("f", TarEntry.Type.REGULAR, 0644, 1000, 1000, "alice", "staff", 1, T + 123_456_789,
        "", 0, 0, new java.util.TreeMap<>());

    assertThat(tar(new Item(noisy, new byte[] {'x'}))).isEqualTo(tar(new Item(plain, new byte[] {'x'})));
  }

  @Test
  void nameThatFitsUstarPrefixNeedsNoPaxHeader() throws IOException {
    byte[] layer = tar(fileEntry(SPLITTABLE, "split", 0644));

    assertThat(typeflags(layer)).containsExactly('0');
    assertThat(commonsListing(layer)).singleElement().asString().endsWith(" " + SPLITTABLE);
  }

  @Test
  void longNameGoesToAPaxPathRecord() throws IOException {
    byte[] layer = tar(fileEntry(LONG_NAME, "long", 0644), symlinkEntry("far", LONG_TARGET));

    assertThat(typeflags(layer)).containsExactly('x', '0', 'x', '2');
    assertThat(latin1(layer)).contains(" path=" + LONG_NAME + "\n").contains(" linkpath=" + LONG_TARGET + "\n");
    assertThat(LayerFixture.read(layer)).extracting(i -> i.entry().name(), i -> i.entry().linkName())
        .containsExactly(org.assertj.core.groups.Tuple.tuple(LONG_NAME, ""),
            org.assertj.core.groups.Tuple.tuple("far", LONG_TARGET));
  }

  /** ustar's 7 octal digits hold ids up to 2097151; one more needs a PAX record. */
  @Test
  void idsBeyondSevenOctalDigitsGoToPaxRecords() throws IOException {
    byte[] fits = tar(fileEntry("f", "", 0644).owner(2_097_151, 2_097_151));
    byte[] beyond = tar(fileEntry("f", "", 0644).owner(2_097_152, 3_000_000));

    assertThat(typeflags(fits)).containsExactly('0');
    assertThat(typeflags(beyond)).containsExactly('x', '0');
    assertThat(latin1(beyond)).contains(" uid=2097152\n").contains(" gid=3000000\n");
    assertThat(LayerFixture.read(beyond)).singleElement()
        .satisfies(i -> assertThat(List.of(i.entry().uid(), i.entry().gid())).containsExactly(2_097_152, 3_000_000));
    assertThat(commonsListing(beyond)).containsExactlyElementsOf(gnuListing(beyond));
  }

  @Test
  void binaryXattrValuesRoundTripExactly() throws IOException {
    byte[] value = new byte[256];
    for (int i = 0; i < value.length; i++) {
      value[i] = (byte) i; // NUL, newline, '=', and every byte >= 0x80
    }
    byte[] layer = tar(fileEntry("f", "", 0644).xattr("security.capability", value).xattr("user.empty", new byte[0]));

    Item read = LayerFixture.read(layer).get(0);

    assertThat(read.entry().xattrs()).containsOnlyKeys("security.capability", "user.empty");
    assertThat(read.entry().xattrs().get("security.capability")).isEqualTo(value);
    assertThat(read.entry().xattrs().get("user.empty")).isEmpty();
  }

  /** A PAX record's length counts its own digits; around 100 bytes that count changes. */
  @Test
  void paxRecordLengthsAreRightAcrossDigitBoundaries() throws IOException {
    List<Item> items = new ArrayList<>();
    for (int n = 60; n <= 120; n++) {
      items.add(fileEntry("f" + n, "", 0644).xattr("user.k", "v".repeat(n)));
    }
    byte[] layer = tar(items);

    List<String> values = new ArrayList<>();
    try (TarArchiveInputStream in = new TarArchiveInputStream(new ByteArrayInputStream(layer))) {
      for (TarArchiveEntry e; (e = in.getNextEntry()) != null; ) {
        values.add(e.getExtraPaxHeader("SCHILY.xattr.user.k"));
      }
    }
    assertThat(values).hasSize(61);
    for (int n = 60; n <= 120; n++) {
      assertThat(values.get(n - 60)).as("value of %d bytes", n).isEqualTo("v".repeat(n));
    }
    assertThat(gnuListing(layer)).hasSize(61);
  }

  @Test
  void sizesBeyondElevenOctalDigitsGoToPaxRecords() throws IOException {
    long size = 077777777777L + 1; // 8 GiB
    HeadOnly out = new HeadOnly(4096);
    TarWriter writer = new TarWriter(out);
    writer.write(TarEntry.file("huge", size, 0644, 0, 0, T), new Zeros());

    byte[] head = out.head();
    assertThat(latin1(head)).contains(" size=" + size + "\n");
    assertThat(new TarReader(new ByteArrayInputStream(head)).next().size()).isEqualTo(size);
    try (TarArchiveInputStream in = new TarArchiveInputStream(new ByteArrayInputStream(head))) {
      assertThat(in.getNextEntry().getSize()).isEqualTo(size);
    }
  }

  /** commons-compress in STAR mode writes ids that do not fit as base-256 binary. */
  @Test
  void base256IdsFromCommonsCompress() throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (TarArchiveOutputStream out = new TarArchiveOutputStream(bytes)) {
      out.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_STAR);
      TarArchiveEntry e = new TarArchiveEntry("f");
      e.setSize(5);
      e.setMode(0100640);
      e.setUserId(3_000_000L);
      e.setGroupId(040_000_000L);
      out.putArchiveEntry(e);
      out.write("hello".getBytes(StandardCharsets.UTF_8));
      out.closeArchiveEntry();
    }
    byte[] layer = bytes.toByteArray();
    assertThat(layer[108] & 0x80).as("uid field is base-256").isNotZero();
    assertThat(typeflags(layer)).as("no PAX header").containsExactly('0');

    Item read = LayerFixture.read(layer).get(0);

    assertThat(List.of(read.entry().uid(), read.entry().gid())).containsExactly(3_000_000, 040_000_000);
    assertThat(read.entry().mode()).isEqualTo(0640);
    assertThat(read.content()).asString(StandardCharsets.UTF_8).isEqualTo("hello");
  }

  /** GNU tar's own format also stores large ids in base-256. */
  @Test
  void base256IdsFromGnuTar() throws IOException {
    Path src = tmp.resolve("src");
    FsTree.apply(src, file("f", "hello", 0644));
    byte[] layer = LayerFixture.run(null, "tar", "--format=gnu", "--numeric-owner", "--owner=3000000",
        "--group=4000000", "-C", src.toString(), "-cf", "-", "f");
    assertThat(layer[108] & 0x80).as("uid field is base-256").isNotZero();

    Item read = LayerFixture.read(layer).get(0);

    assertThat(List.of(read.entry().uid(), read.entry().gid())).containsExactly(3_000_000, 4_000_000);
    assertThat(describe(List.of(read))).containsExactlyElementsOf(gnuListing(layer));
  }

  /** A 12-byte base-256 size field (what a writer uses past 8 GiB), here holding a small size. */
  @Test
  void base256SizeField() throws IOException {
    byte[] layer = tar(fileEntry("f", "hello, base-256", 0644));
    byte[] field = new byte[12];
    field[0] = (byte) 0x80;
    field[11] = 15;
    System.arraycopy(field, 0, layer, 124, 12);
    rechecksum(layer, 0);

    Item read = LayerFixture.read(layer).get(0);

    assertThat(read.entry().size()).isEqualTo(15);
    assertThat(read.content()).asString(StandardCharsets.UTF_8).isEqualTo("hello, base-256");
    try (TarArchiveInputStream in = new TarArchiveInputStream(new ByteArrayInputStream(layer))) {
      assertThat(in.getNextEntry().getSize()).as("commons-compress agrees").isEqualTo(15);
    }
  }

  /** A header commons-compress writes in STAR mode for an 8 GiB file: only the header is read. */
  @Test
  void base256SizeFromCommonsCompress() throws IOException {
    long size = 077777777777L + 12345;
    HeadOnly head = new HeadOnly(512);
    TarArchiveOutputStream out = new TarArchiveOutputStream(head, 512); // one record per block: no buffering
    out.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_STAR);
    TarArchiveEntry e = new TarArchiveEntry("huge");
    e.setSize(size);
    out.putArchiveEntry(e);
    assertThat(head.head()[124] & 0x80).as("size field is base-256").isNotZero();

    assertThat(new TarReader(new ByteArrayInputStream(head.head())).next().size()).isEqualTo(size);
  }

  // --- listings: one line per entry in GNU tar's `tar -tv --full-time --numeric-owner` form

  private static List<String> describe(List<Item> items) {
    return items.stream().map(i -> describe(i.entry())).toList();
  }

  private static String describe(TarEntry e) {
    char type = switch (e.type()) {
      case REGULAR -> '-';
      case HARDLINK -> 'h';
      case SYMLINK -> 'l';
      case CHAR_DEVICE -> 'c';
      case BLOCK_DEVICE -> 'b';
      case DIRECTORY -> 'd';
      case FIFO -> 'p';
    };
    long size = e.type() == TarEntry.Type.REGULAR ? e.size() : 0;
    return line(type, e.mode(), e.uid() & 0xffffffffL, e.gid() & 0xffffffffL, size, e.devMajor(), e.devMinor(),
        Math.floorDiv(e.mtimeNanos(), S), e.name(), e.linkName());
  }

  private static String line(char type, int mode, long uid, long gid, long size, int major, int minor, long seconds,
      String name, String link) {
    String sizeField = type == 'c' || type == 'b' ? major + "," + minor : Long.toString(size);
    String suffix = switch (type) {
      case 'l' -> " -> " + link;
      case 'h' -> " link to " + link;
      default -> "";
    };
    return type + permissions(mode) + " " + uid + "/" + gid + " " + sizeField + " "
        + LISTING_TIME.format(Instant.ofEpochSecond(seconds)) + " " + name + suffix;
  }

  /** ls-style rwx string with s/S and t/T. */
  private static String permissions(int mode) {
    char[] c = "rwxrwxrwx".toCharArray();
    for (int i = 0; i < 9; i++) {
      if ((mode & (0400 >> i)) == 0) {
        c[i] = '-';
      }
    }
    if ((mode & 04000) != 0) {
      c[2] = c[2] == 'x' ? 's' : 'S';
    }
    if ((mode & 02000) != 0) {
      c[5] = c[5] == 'x' ? 's' : 'S';
    }
    if ((mode & 01000) != 0) {
      c[8] = c[8] == 'x' ? 't' : 'T';
    }
    return new String(c);
  }

  private static List<String> gnuListing(byte[] tar) throws IOException {
    String out = new String(LayerFixture.run(tar, "env", "TZ=UTC", "tar", "--full-time", "--numeric-owner", "-tvf",
        "-"), StandardCharsets.UTF_8);
    List<String> lines = new ArrayList<>();
    for (String l : out.split("\n")) {
      Matcher m = GNU_LISTING.matcher(l);
      assertThat(m.matches()).as("GNU tar listing line %s", l).isTrue();
      lines.add(m.group(1) + " " + m.group(2) + "/" + m.group(3) + " " + m.group(4) + " " + m.group(5) + " "
          + m.group(6));
    }
    return lines;
  }

  private static List<String> commonsListing(byte[] tar) throws IOException {
    List<String> lines = new ArrayList<>();
    try (TarArchiveInputStream in = new TarArchiveInputStream(new ByteArrayInputStream(tar))) {
      for (TarArchiveEntry e; (e = in.getNextEntry()) != null; ) {
        char type = e.isSymbolicLink() ? 'l' : e.isLink() ? 'h' : e.isCharacterDevice() ? 'c'
            : e.isBlockDevice() ? 'b' : e.isFIFO() ? 'p' : e.isDirectory() ? 'd' : '-';
        long size = type == '-' ? e.getSize() : 0;
        lines.add(line(type, e.getMode() & 07777, e.getLongUserId(), e.getLongGroupId(), size, e.getDevMajor(),
            e.getDevMinor(), e.getLastModifiedTime().toInstant().getEpochSecond(), e.getName(), e.getLinkName()));
      }
    }
    return lines;
  }

  private static Map<String, List<String>> xattrs(List<Item> items) {
    Map<String, List<String>> out = new java.util.TreeMap<>();
    for (Item i : items) {
      out.put(i.entry().name(), i.entry().xattrs().entrySet().stream()
          .map(x -> x.getKey() + "=" + HexFormat.of().formatHex(x.getValue())).toList());
    }
    return out;
  }

  /** The typeflag of every header in the archive, extension headers included. */
  private static List<Character> typeflags(byte[] tar) {
    List<Character> flags = new ArrayList<>();
    int pos = 0;
    while (pos + 512 <= tar.length && !isZero(tar, pos)) {
      flags.add((char) tar[pos + 156]);
      long size = Long.parseLong(new String(tar, pos + 124, 11, StandardCharsets.US_ASCII).trim(), 8);
      pos += 512 + (int) ((size + 511) / 512 * 512);
    }
    return flags;
  }

  private static boolean isZero(byte[] b, int off) {
    for (int i = off; i < off + 512; i++) {
      if (b[i] != 0) {
        return false;
      }
    }
    return true;
  }

  private static void rechecksum(byte[] tar, int off) {
    Arrays.fill(tar, off + 148, off + 156, (byte) ' ');
    long sum = 0;
    for (int i = off; i < off + 512; i++) {
      sum += tar[i] & 0xff;
    }
    byte[] digits = String.format("%06o\0 ", sum).getBytes(StandardCharsets.US_ASCII);
    System.arraycopy(digits, 0, tar, off + 148, 8);
  }

  private static String latin1(byte[] b) {
    return new String(b, StandardCharsets.ISO_8859_1);
  }

  /** Keeps the first bytes written and counts the rest away. */
  private static final class HeadOnly extends OutputStream {
    private final byte[] head;
    private long written;

    HeadOnly(int keep) {
      head = new byte[keep];
    }

    @Override
    public void write(int b) {
      write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) {
      if (written < head.length) {
        System.arraycopy(b, off, head, (int) written, (int) Math.min(len, head.length - written));
      }
      written += len;
    }

    byte[] head() {
      return head.clone();
    }
  }

  /** An endless stream of zero bytes that costs nothing to read. */
  private static final class Zeros extends InputStream {
    @Override
    public int read() {
      return 0;
    }

    @Override
    public int read(byte[] b, int off, int len) {
      return len; // the writer's buffer is only ever filled from here: it stays zero
    }
  }
}
