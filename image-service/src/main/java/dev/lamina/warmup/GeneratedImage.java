package dev.lamina.warmup;

import com.github.luben.zstd.ZstdOutputStream;
import dev.lamina.archive.TarEntry;
import dev.lamina.archive.TarWriter;
import dev.lamina.digest.Digest;
import java.io.BufferedOutputStream;
import java.io.ByteArrayInputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.zip.GZIPOutputStream;

/**
 * A small OCI image made up on the spot, shaped like real ones where a pull spends its time: many
 * small text files in a gzip layer, a zstd layer with whiteouts, an opaque directory and
 * directories it does not declare, links, a few incompressible megabytes.
 *
 * <p>It also carries, a few times each, what distribution layers carry and synthetic ones easily
 * miss: the root entry {@code ./}, device nodes (when the daemon may create them), names and link
 * targets outside Latin-1 in ustar fields and in PAX records, absolute symlink targets, group
 * owners other than root, setgid directories, paths of more than eight components, hidden files.
 * The JIT compiles the entry loop for what it has seen; an entry of a kind it never saw, met
 * during a real pull, throws that compiled code away and sends the loop back to the interpreter
 * until it is compiled again.
 *
 * @param manifest the image manifest (OCI)
 * @param config the image config
 * @param layers the compressed layers, files by digest
 */
public record GeneratedImage(byte[] manifest, byte[] config, Map<String, Path> layers) {
  static final String MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json";
  private static final String CONFIG_TYPE = "application/vnd.oci.image.config.v1+json";
  private static final String GZIP_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip";
  private static final String ZSTD_TYPE = "application/vnd.oci.image.layer.v1.tar+zstd";
  private static final long MTIME = 1_700_000_000_000_000_000L;
  private static final String[] WORDS = {"layer", "snapshot", "digest", "manifest", "overlay", "content",
      "registry", "blob", "chain", "commit", "mount", "whiteout", "opaque", "kubelet", "image", "pull"};

  public Digest manifestDigest() {
    return Digest.sha256Of(manifest);
  }

  /**
   * Writes the layers into {@code dir}; {@code seed} varies the file contents. Device nodes are
   * in the image only with {@code devices}: creating them needs root.
   */
  public static GeneratedImage generate(long seed, Path dir, boolean devices) throws IOException {
    Random random = new Random(seed);
    List<Layer> layers = List.of(
        new Layer(GZIP_TYPE, (w, r) -> base(w, r, devices)),
        new Layer(ZSTD_TYPE, GeneratedImage::changes),
        new Layer(GZIP_TYPE, GeneratedImage::small));
    Map<String, Path> blobs = new LinkedHashMap<>();
    StringBuilder diffIds = new StringBuilder();
    StringBuilder layerJson = new StringBuilder();
    int n = 0;
    for (Layer l : layers) {
      Path file = dir.resolve("layer-" + n++);
      Written w = write(l, random, file);
      Path named = Files.move(file, dir.resolve(w.digest().hex()));
      blobs.put(w.digest().toString(), named);
      diffIds.append(diffIds.length() == 0 ? "" : ",").append('"').append(w.diffId()).append('"');
      layerJson.append(layerJson.length() == 0 ? "" : ",").append(descriptor(l.mediaType(), w.digest(), w.size()));
    }
    byte[] config = ("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"User\":\"0\"},"
        + "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[" + diffIds + "]}}").getBytes(StandardCharsets.UTF_8);
    Digest configDigest = Digest.sha256Of(config);
    byte[] manifest = ("{\"schemaVersion\":2,\"mediaType\":\"" + MANIFEST_TYPE + "\",\"config\":"
        + descriptor(CONFIG_TYPE, configDigest, config.length) + ",\"layers\":[" + layerJson + "]}")
        .getBytes(StandardCharsets.UTF_8);
    return new GeneratedImage(manifest, config, Collections.unmodifiableMap(blobs));
  }

  public Digest configDigest() {
    return Digest.sha256Of(config);
  }

  private record Layer(String mediaType, Body body) {}

  private record Written(Digest digest, long size, Digest diffId) {}

  /** Streams the layer's tar through its diff-ID hash, the compressor and the blob hash into {@code file}. */
  private static Written write(Layer layer, Random random, Path file) throws IOException {
    MessageDigest blobHash = Digest.newSha256();
    MessageDigest tarHash = Digest.newSha256();
    long size;
    try (OutputStream fileOut = Files.newOutputStream(file)) {
      CountingOutputStream counted = new CountingOutputStream(new DigestOutputStream(
          new BufferedOutputStream(fileOut, 1 << 16), blobHash));
      try (OutputStream compressed = layer.mediaType().endsWith("zstd") ? new ZstdOutputStream(counted)
              : new GZIPOutputStream(counted, 1 << 16);
          TarWriter tar = new TarWriter(new DigestOutputStream(new BufferedOutputStream(compressed, 1 << 16),
              tarHash))) {
        layer.body().write(new Entries(tar), random);
        tar.finish();
      }
      size = counted.count;
    }
    return new Written(Digest.sha256(blobHash.digest()), size, Digest.sha256(tarHash.digest()));
  }

  private static final class CountingOutputStream extends FilterOutputStream {
    long count;

    CountingOutputStream(OutputStream out) {
      super(out);
    }

    @Override
    public void write(int b) throws IOException {
      out.write(b);
      count++;
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      out.write(b, off, len);
      count += len;
    }
  }

  private static String descriptor(String mediaType, Digest d, long size) {
    return "{\"mediaType\":\"" + mediaType + "\",\"digest\":\"" + d + "\",\"size\":" + size + "}";
  }

  /**
   * 30 directories of 60 files sized as in distribution images (half under 4 KiB, most of the rest
   * under 32 KiB, some up to 128 KiB), links, names long enough for PAX records, 4 MiB that does not
   * compress.
   */
  private static void base(Entries w, Random random, boolean devices) throws IOException {
    {
      w.dir("./");
      if (devices) {
        w.dir("dev/");
        int[][] nodes = {{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 1}, {5, 2}};
        for (int[] n : nodes) {
          w.charDevice("dev/c" + n[0] + "-" + n[1], n[0], n[1]);
        }
      }
      international(w, random, "usr/share/ca/");
      deep(w, random, "usr/lib/python3/dist-packages/", true);
      w.dir("app/");
      for (int d = 0; d < 30; d++) {
        String dir = "app/d" + d + "/";
        w.dir(dir);
        for (int f = 0; f < 60; f++) {
          w.file(dir + "f" + f + ".txt", text(random, size(random)), f % 9 == 0 ? 0755 : 0644);
        }
        w.file(dir + ".keep", new byte[0], 0644);
        w.symlink(dir + "link", "f0.txt");
        w.hardlink(dir + "hard", dir + "f1.txt");
        w.file(dir + "a-file-name-long-enough-that-the-ustar-header-cannot-hold-it-and-a-pax-record-carries-"
            + "it-instead.txt", text(random, 200), 0644);
      }
      w.dir("bin/");
      for (int i = 0; i < 4; i++) {
        byte[] data = new byte[1 << 20];
        random.nextBytes(data);
        w.file("bin/tool" + i, data, 0755);
      }
    }
  }

  private static int size(Random random) {
    int r = random.nextInt(100);
    if (r < 50) {
      return random.nextInt(4096);
    }
    if (r < 92) {
      return 4096 + random.nextInt(28 * 1024);
    }
    return 32 * 1024 + random.nextInt(96 * 1024);
  }

  /**
   * Names and link targets beyond Latin-1 (Java keeps such strings in another encoding, and
   * every string operation on them takes other branches), short enough for the ustar header and
   * long enough for PAX records; absolute symlinks; files of group 42 in a setgid directory.
   */
  private static void international(Entries w, Random random, String dir) throws IOException {
    w.dir(dir, 02755, 50);
    String longDir = dir + "Ünïcödé-ディレクトリ-" + "ő".repeat(40) + "/";
    w.dir(longDir, 0755, 0);
    for (int i = 0; i < 20; i++) {
      String shortName = dir + "Főtanúsítvány-" + i + ".crt";
      String longName = longDir + "NetLock_Arany_=Class_Gold=_Főtanúsítvány-" + i + ".crt";
      w.file(shortName, text(random, 200), 0644, 42);
      w.file(longName, text(random, 200), 0644, 0);
      w.symlink(dir + "link-" + i + ".0", "/" + shortName);
      w.symlink(dir + "long-link-" + i + ".0", "/" + longName);
      w.symlink(dir + "日本-" + i, "Főtanúsítvány-" + i + ".crt");
    }
  }

  /**
   * Directories 16 levels deep, as language packages nest them, with hidden files: path code keeps
   * more than a handful of components in another branch. {@code declared}: each level has its own
   * entry; otherwise only the files do, and the directories are implied.
   */
  private static void deep(Entries w, Random random, String top, boolean declared) throws IOException {
    StringBuilder dir = new StringBuilder(top);
    for (int level = 0; level < 16; level++) {
      dir.append("pkg").append(level).append('/');
      if (declared) {
        w.dir(dir.toString());
      }
      w.file(dir + "__init__.py", text(random, size(random)), 0644);
      w.file(dir + ".hidden", text(random, 30), 0644);
    }
  }

  /** Files changed and added, whiteouts, an opaque directory, undeclared parent directories. */
  private static void changes(Entries w, Random random) throws IOException {
    {
      w.dir("./");
      international(w, random, "usr/share/ca-more/");
      deep(w, random, "usr/lib/node_modules/", false);
      for (int d = 0; d < 30; d++) {
        String dir = "app/d" + d + "/";
        w.dir(dir);
        if (d == 7) {
          w.file(dir + ".wh..wh..opq", new byte[0], 0644);
        }
        for (int f = 0; f < 10; f++) {
          w.file(dir + ".wh.f" + (20 + f) + ".txt", new byte[0], 0644);
        }
        for (int f = 0; f < 20; f++) {
          w.file(dir + "f" + f + ".txt", text(random, size(random)), 0644);
        }
      }
      for (int f = 0; f < 400; f++) {
        w.file("opt/new/m" + (f % 20) + "/n" + f + ".json", text(random, 40), 0644);
      }
    }
  }

  private static void small(Entries w, Random random) throws IOException {
    {
      w.dir("etc/");
      for (int f = 0; f < 200; f++) {
        w.file("etc/c" + f, text(random, 100), 0600);
      }
    }
  }

  private static byte[] text(Random random, int size) {
    StringBuilder sb = new StringBuilder(size + 16);
    while (sb.length() < size) {
      sb.append(WORDS[random.nextInt(WORDS.length)]).append(random.nextInt(10) == 0 ? '\n' : ' ');
    }
    sb.setLength(size);
    return sb.toString().getBytes(StandardCharsets.US_ASCII);
  }

  private interface Body {
    void write(Entries w, Random random) throws IOException;
  }

  private static final class Entries {
    final TarWriter tar;

    Entries(TarWriter tar) {
      this.tar = tar;
    }

    void dir(String name) throws IOException {
      dir(name, 0755, 0);
    }

    void dir(String name, int mode, int gid) throws IOException {
      tar.write(TarEntry.directory(name, mode, 0, gid, MTIME), null);
    }

    void file(String name, byte[] data, int mode) throws IOException {
      file(name, data, mode, 0);
    }

    void file(String name, byte[] data, int mode, int gid) throws IOException {
      tar.write(TarEntry.file(name, data.length, mode, 0, gid, MTIME), new ByteArrayInputStream(data));
    }

    void charDevice(String name, int major, int minor) throws IOException {
      tar.write(new TarEntry(name, TarEntry.Type.CHAR_DEVICE, 0666, 0, 0, "", "", 0, MTIME, "", major, minor,
          new TreeMap<>()), null);
    }

    void symlink(String name, String target) throws IOException {
      tar.write(new TarEntry(name, TarEntry.Type.SYMLINK, 0777, 0, 0, "", "", 0, MTIME, target, 0, 0,
          new TreeMap<>()), null);
    }

    void hardlink(String name, String target) throws IOException {
      tar.write(new TarEntry(name, TarEntry.Type.HARDLINK, 0644, 0, 0, "", "", 0, MTIME, target, 0, 0,
          new TreeMap<>()), null);
    }
  }
}
