package dev.lamina.services;

import dev.lamina.archive.TarEntry;
import dev.lamina.archive.TarWriter;
import dev.lamina.content.Store;
import dev.lamina.content.Writer;
import dev.lamina.digest.Digest;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.TreeMap;
import java.util.zip.GZIPOutputStream;

/** Builds small OCI layers for tests and puts them into a content store. */
final class LayerBuilder {
  static final long MTIME = 1_600_000_000L * 1_000_000_000L;

  private final ByteArrayOutputStream tar = new ByteArrayOutputStream();
  private final TarWriter writer = new TarWriter(tar);

  LayerBuilder dir(String name, int mode) {
    return entry(TarEntry.directory(name, mode, 0, 0, MTIME), null);
  }

  LayerBuilder file(String name, String content, int mode) {
    byte[] b = content.getBytes(StandardCharsets.UTF_8);
    return entry(TarEntry.file(name, b.length, mode, 0, 0, MTIME), b);
  }

  LayerBuilder symlink(String name, String target) {
    return entry(new TarEntry(name, TarEntry.Type.SYMLINK, 0777, 0, 0, "", "", 0, MTIME, target, 0, 0,
        new TreeMap<>()), null);
  }

  /** {@code .wh.NAME} in NAME's directory. */
  LayerBuilder whiteout(String path) {
    int slash = path.lastIndexOf('/');
    String name = slash < 0 ? ".wh." + path : path.substring(0, slash + 1) + ".wh." + path.substring(slash + 1);
    return entry(TarEntry.file(name, 0, 0644, 0, 0, MTIME), new byte[0]);
  }

  LayerBuilder opaque(String dir) {
    return entry(TarEntry.file(dir + "/.wh..wh..opq", 0, 0644, 0, 0, MTIME), new byte[0]);
  }

  private LayerBuilder entry(TarEntry e, byte[] content) {
    try {
      InputStream in = content == null ? InputStream.nullInputStream() : new ByteArrayInputStream(content);
      writer.write(e, in);
    } catch (IOException x) {
      throw new UncheckedIOException(x);
    }
    return this;
  }

  byte[] tar() throws IOException {
    writer.finish();
    return tar.toByteArray();
  }

  static byte[] gzip(byte[] data) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
      gz.write(data);
    }
    return out.toByteArray();
  }

  static Digest put(Store store, byte[] blob, Map<String, String> labels) throws IOException {
    Digest d = Digest.sha256Of(blob);
    try (Writer w = store.writer("test-" + d.hex(), blob.length, d)) {
      w.write(blob, 0, blob.length);
      w.commit(blob.length, d, labels);
    }
    return d;
  }
}
