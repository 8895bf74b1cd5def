package dev.lamina.images;

import dev.lamina.archive.TarEntry;
import dev.lamina.archive.TarWriter;
import dev.lamina.compression.Compression;
import dev.lamina.digest.Digest;
import dev.lamina.oci.MediaTypes;
import dev.lamina.oci.Platform;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

/** Test images: layers written with {@link TarWriter}, gzipped, with config, manifest and index JSON. */
public final class Images {
  static final long MTIME = 1_600_000_000L * 1_000_000_000L;

  private Images() {}

  /** A layer being written. */
  public static final class LayerBuilder {
    private final ByteArrayOutputStream tar = new ByteArrayOutputStream();
    private final TarWriter writer = new TarWriter(tar);

    public LayerBuilder dir(String name, int mode) {
      return entry(TarEntry.directory(name, mode, 0, 0, MTIME), null);
    }

    LayerBuilder dir(String name, int mode, int uid, int gid) {
      return entry(TarEntry.directory(name, mode, uid, gid, MTIME), null);
    }

    LayerBuilder dirWithXattr(String name, int mode, String xattr, String value) {
      return entry(TarEntry.directory(name, mode, 0, 0, MTIME)
          .withXattrs(Map.of(xattr, value.getBytes(StandardCharsets.UTF_8))), null);
    }

    public LayerBuilder file(String name, String content) {
      return file(name, content.getBytes(StandardCharsets.UTF_8), 0644);
    }

    LayerBuilder file(String name, byte[] content, int mode) {
      return entry(TarEntry.file(name, content.length, mode, 0, 0, MTIME), content);
    }

    LayerBuilder symlink(String name, String target) {
      return entry(new TarEntry(name, TarEntry.Type.SYMLINK, 0777, 0, 0, "", "", 0, MTIME, target, 0, 0,
          new TreeMap<>()), null);
    }

    LayerBuilder hardlink(String name, String target) {
      return entry(new TarEntry(name, TarEntry.Type.HARDLINK, 0644, 0, 0, "", "", 0, MTIME, target, 0, 0,
          new TreeMap<>()), null);
    }

    /** {@code .wh.<base>} next to {@code path}. */
    LayerBuilder whiteout(String path) {
      int slash = path.lastIndexOf('/');
      String name = slash < 0 ? ".wh." + path : path.substring(0, slash + 1) + ".wh." + path.substring(slash + 1);
      return file(name, new byte[0], 0644);
    }

    LayerBuilder opaque(String dir) {
      return file(dir + "/.wh..wh..opq", new byte[0], 0644);
    }

    /** {@code count} files of random (incompressible) bytes under {@code dir}. */
    LayerBuilder randomFiles(String dir, int count, int size, long seed) {
      Random r = new Random(seed);
      for (int i = 0; i < count; i++) {
        byte[] b = new byte[size];
        r.nextBytes(b);
        file(dir + "/f" + i, b, 0644);
      }
      return this;
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

    public Layer build() {
      return build(Compression.GZIP);
    }

    Layer build(Compression compression) {
      try {
        writer.finish();
        byte[] plain = tar.toByteArray();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (OutputStream c = compression.compressor(out)) {
          c.write(plain);
        }
        byte[] blob = out.toByteArray();
        return new Layer(plain, blob, Digest.sha256Of(plain), Digest.sha256Of(blob), compression.ociMediaType());
      } catch (IOException x) {
        throw new UncheckedIOException(x);
      }
    }
  }

  public static LayerBuilder layer() {
    return new LayerBuilder();
  }

  /** One layer: its tar, its blob and their digests. */
  public record Layer(byte[] tar, byte[] blob, Digest diffId, Digest digest, String mediaType) {}

  /** One image as a registry holds it. */
  public record Image(List<Layer> layers, byte[] config, byte[] manifest, Digest configDigest, Digest manifestDigest) {
    long packedSize() {
      long s = manifest.length + config.length;
      for (Layer l : layers) {
        s += l.blob().length;
      }
      return s;
    }
  }

  public static Image image(List<Layer> layers) {
    return image(layers, Platform.current(), "");
  }

  static Image image(List<Layer> layers, Platform platform, String label) {
    StringBuilder diffIds = new StringBuilder();
    for (Layer l : layers) {
      diffIds.append(diffIds.length() == 0 ? "" : ",").append('"').append(l.diffId()).append('"');
    }
    String config = "{\"architecture\":\"" + platform.architecture() + "\",\"os\":\"" + platform.os() + "\","
        + (platform.variant().isEmpty() ? "" : "\"variant\":\"" + platform.variant() + "\",")
        + "\"config\":{\"Env\":[\"PATH=/usr/bin\"],\"Cmd\":[\"/bin/sh\"],\"Labels\":{\"l\":\"" + label + "\"}},"
        + "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[" + diffIds + "]}}";
    return image(layers, config.getBytes(StandardCharsets.UTF_8));
  }

  static Image image(List<Layer> layers, byte[] config) {
    Digest configDigest = Digest.sha256Of(config);
    StringBuilder ls = new StringBuilder();
    for (Layer l : layers) {
      ls.append(ls.length() == 0 ? "" : ",").append(descriptor(l.mediaType(), l.digest(), l.blob().length));
    }
    String manifest = "{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.OCI_MANIFEST + "\",\"config\":"
        + descriptor(MediaTypes.OCI_CONFIG, configDigest, config.length) + ",\"layers\":[" + ls + "]}";
    byte[] m = manifest.getBytes(StandardCharsets.UTF_8);
    return new Image(List.copyOf(layers), config, m, configDigest, Digest.sha256Of(m));
  }

  /** An OCI index of {@code images}, each entry with its platform. */
  static byte[] index(List<Image> images, List<Platform> platforms) {
    List<String> entries = new ArrayList<>();
    for (int i = 0; i < images.size(); i++) {
      Platform p = platforms.get(i);
      Image img = images.get(i);
      entries.add("{\"mediaType\":\"" + MediaTypes.OCI_MANIFEST + "\",\"digest\":\"" + img.manifestDigest()
          + "\",\"size\":" + img.manifest().length + ",\"platform\":{\"architecture\":\"" + p.architecture()
          + "\",\"os\":\"" + p.os() + "\"" + (p.variant().isEmpty() ? "" : ",\"variant\":\"" + p.variant() + "\"")
          + "}}");
    }
    return ("{\"schemaVersion\":2,\"mediaType\":\"" + MediaTypes.OCI_INDEX + "\",\"manifests\":["
        + String.join(",", entries) + "]}").getBytes(StandardCharsets.UTF_8);
  }

  static String descriptor(String mediaType, Digest digest, long size) {
    return "{\"mediaType\":\"" + mediaType + "\",\"digest\":\"" + digest + "\",\"size\":" + size + "}";
  }

  /** Serves the image's manifest (under {@code tag}), config and layers. */
  public static void push(TestRegistry registry, String repo, String tag, Image image) {
    registry.putBlob(image.config());
    for (Layer l : image.layers()) {
      registry.putBlob(l.blob());
    }
    registry.putManifest(repo, tag, MediaTypes.OCI_MANIFEST, image.manifest());
  }
}
