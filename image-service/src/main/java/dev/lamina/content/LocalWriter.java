package dev.lamina.content;

import dev.lamina.digest.Digest;
import dev.lamina.errdefs.LaminaException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Map;

/** A writer into one ingest directory of a {@link LocalContentStore}. */
final class LocalWriter implements Writer {
  private static final int CHUNK = 1 << 20;

  private final LocalContentStore store;
  private final String ref;
  private final Path dir;
  private final Path dataPath;
  private final FileChannel lock;
  private final long total;
  private final Digest expected;
  private final Instant startedAt;
  private final String algorithm;
  private FileChannel data;
  private MessageDigest hash;
  private long offset;
  private boolean done;
  private boolean closed;

  LocalWriter(LocalContentStore store, String ref, Path dir, Path dataPath, FileChannel lock, long total,
      Digest expected, Instant startedAt) throws IOException {
    this.store = store;
    this.ref = ref;
    this.dir = dir;
    this.dataPath = dataPath;
    this.lock = lock;
    this.total = total;
    this.expected = expected;
    this.startedAt = startedAt;
    this.algorithm = expected == null ? "sha256" : expected.algorithm();
    if (Files.exists(dataPath) && !Files.isWritable(dataPath)) {
      // a commit that failed after sealing the data: make it writable again to resume
      Files.setPosixFilePermissions(dataPath, PosixFilePermissions.fromString("rw-------"));
    }
    this.data = FileChannel.open(dataPath, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.READ);
    rehash(data.size());
  }

  @Override
  public String ref() {
    return ref;
  }

  @Override
  public void write(byte[] b, int off, int len) throws IOException {
    usable();
    if (total >= 0 && offset + len > total) {
      throw LaminaException.failedPrecondition("ref " + ref + ": " + (offset + len) + " bytes written, more than the "
          + total + " expected");
    }
    ByteBuffer buf = ByteBuffer.wrap(b, off, len);
    while (buf.hasRemaining()) {
      data.write(buf, offset + (buf.position() - off));
    }
    hash.update(b, off, len);
    offset += len;
  }

  @Override
  public long offset() {
    return offset;
  }

  @Override
  public Digest digest() {
    try {
      return digestOf((MessageDigest) hash.clone());
    } catch (CloneNotSupportedException e) {
      throw new IllegalStateException("message digest cannot be cloned", e);
    }
  }

  @Override
  public MessageDigest digestState() {
    try {
      return (MessageDigest) hash.clone();
    } catch (CloneNotSupportedException e) {
      throw new IllegalStateException("message digest cannot be cloned", e);
    }
  }

  @Override
  public Status status() {
    return new Status(ref, offset, total, expected, startedAt, Instant.now());
  }

  @Override
  public void truncate(long size) throws IOException {
    usable();
    if (size < 0 || size > offset) {
      throw LaminaException.invalidArgument("ref " + ref + ": cannot truncate " + offset + " bytes to " + size);
    }
    data.truncate(size);
    rehash(size);
  }

  @Override
  public void commit(long size, Digest expectedNow, Map<String, String> labels) throws IOException {
    usable();
    Map<String, String> l = labels == null ? Map.of() : labels;
    LocalContentStore.validateLabels(l);
    if (size >= 0 && size != offset) {
      throw LaminaException.failedPrecondition("ref " + ref + ": unexpected commit size " + offset + ", expected "
          + size);
    }
    if (total >= 0 && total != offset) {
      throw LaminaException.failedPrecondition("ref " + ref + ": unexpected commit size " + offset + ", expected "
          + total);
    }
    Digest actual = expectedNow != null && !expectedNow.algorithm().equals(algorithm)
        ? rehashAll(expectedNow.algorithm()) : digest();
    for (Digest want : new Digest[] {expectedNow, expected}) {
      if (want != null && !want.equals(actual)) {
        throw LaminaException.failedPrecondition("ref " + ref + ": unexpected commit digest " + actual + ", expected "
            + want);
      }
    }
    data.force(true);
    data.close();
    // Read-only before it becomes visible: a blob is never written again.
    Files.setPosixFilePermissions(dataPath, PosixFilePermissions.fromString("r--r--r--"));
    done = true;
    boolean published = store.link(dataPath, actual);
    // The blob exists from here on, whoever wrote it: the ingest has served its purpose.
    try {
      if (published) {
        store.record(actual, l);
      }
    } finally {
      LocalContentStore.deleteIngest(dir);
    }
    if (!published) {
      throw LaminaException.alreadyExists("content " + actual + ": already exists");
    }
  }

  @Override
  public void close() throws IOException {
    if (closed) {
      return;
    }
    closed = true;
    try {
      data.close();
    } finally {
      try {
        lock.close();
      } finally {
        store.release(ref);
      }
    }
  }

  private void usable() throws LaminaException {
    if (closed) {
      throw LaminaException.failedPrecondition("writer of ref " + ref + " is closed");
    }
    if (done) {
      throw LaminaException.failedPrecondition("writer of ref " + ref + " has committed");
    }
  }

  /** Restarts the hash over the first {@code size} bytes of data: resuming or truncating. */
  private void rehash(long size) throws IOException {
    hash = newDigest(algorithm);
    readInto(hash, size);
    offset = size;
  }

  private Digest rehashAll(String otherAlgorithm) throws IOException {
    MessageDigest md = newDigest(otherAlgorithm);
    readInto(md, offset);
    return digestOf(md);
  }

  private void readInto(MessageDigest md, long size) throws IOException {
    ByteBuffer buf = ByteBuffer.allocate(CHUNK);
    long pos = 0;
    while (pos < size) {
      buf.clear().limit((int) Math.min(CHUNK, size - pos));
      int n = data.read(buf, pos);
      if (n < 0) {
        throw LaminaException.dataLoss("ingest " + ref + " is shorter than " + size + " bytes");
      }
      md.update(buf.array(), 0, n);
      pos += n;
    }
  }

  private Digest digestOf(MessageDigest md) {
    return new Digest(algorithm(md), HexFormat.of().formatHex(md.digest()));
  }

  private static String algorithm(MessageDigest md) {
    return md.getAlgorithm().equals("SHA-512") ? "sha512" : "sha256";
  }

  private static MessageDigest newDigest(String algorithm) {
    return new Digest(algorithm, algorithm.equals("sha512") ? "0".repeat(128) : "0".repeat(64)).newMessageDigest();
  }
}
