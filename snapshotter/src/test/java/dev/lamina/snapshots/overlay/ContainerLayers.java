package dev.lamina.snapshots.overlay;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.fstest.FsTree;
import dev.lamina.mount.TempMounts;
import dev.lamina.posix.Posix;
import dev.lamina.snapshots.Usage;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** An image layer, what a container writes on it, and du of an upper dir, for the usage tests. */
final class ContainerLayers {
  static final Map<String, String> LABELS = Map.of("containerd.io/gc.root", "2024-01-01T00:00:00Z");

  private ContainerLayers() {}

  /** A committed layer with files and directories a container then changes. */
  static String imageLayer(OverlaySnapshotter sn) throws IOException {
    sn.prepare("image-prepare", "", LABELS);
    TempMounts.withTempMount(sn.root(), sn.mounts("image-prepare"), merged -> {
      FsTree.apply(merged,
          FsTree.file("etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644),
          FsTree.file("etc/big.conf", new byte[200_000], 0644),
          FsTree.file("usr/lib/libx.so", new byte[120_000], 0755),
          FsTree.file("usr/share/doc/a", "a", 0644),
          FsTree.file("usr/share/doc/b", "b", 0644),
          FsTree.file("var/log/old.log", new byte[30_000], 0644));
      return null;
    });
    sn.commit("image", "image-prepare", "", LABELS);
    return "image";
  }

  /** New files, hard links, a sparse file, nested dirs, copy-ups, a whiteout and an opaque dir. */
  static void writeLikeAContainer(Path merged) throws IOException {
    byte[] mib = new byte[1 << 20];
    Arrays.fill(mib, (byte) 3);
    FsTree.apply(merged,
        FsTree.file("data/blob", mib, 0644),
        FsTree.link("data/blob-link", "data/blob"),
        FsTree.link("data/deep/er/blob-link2", "data/blob"),
        FsTree.symlink("data/to-blob", "blob"),
        FsTree.fifo("run/fifo", 0600));
    for (int i = 0; i < 600; i++) {
      FsTree.apply(merged, FsTree.file("tmp/d" + (i % 9) + "/f" + i, "z".repeat(i % 3000), 0644));
    }
    try (RandomAccessFile f = new RandomAccessFile(merged.resolve("data/sparse").toFile(), "rw")) {
      f.setLength(128L << 20);
      f.seek(64L << 20);
      f.write("hole around".getBytes(StandardCharsets.UTF_8));
    }
    Files.delete(merged.resolve("etc/passwd")); // whiteout
    Files.write(merged.resolve("var/log/old.log"), new byte[5000], StandardOpenOption.APPEND); // copy-up
    Posix.get().chmod(merged.resolve("usr/lib/libx.so"), 0700); // copy-up of metadata and data
    for (String f : new String[] {"a", "b"}) {
      Files.delete(merged.resolve("usr/share/doc/" + f));
    }
    Files.delete(merged.resolve("usr/share/doc")); // whiteout of a directory
    Files.createDirectory(merged.resolve("usr/share/doc")); // opaque directory
    Files.writeString(merged.resolve("usr/share/doc/new"), "new");
  }

  static void assertMatchesDu(OverlaySnapshotter sn, String key) throws IOException {
    Path upper = sn.directoryOf(key).resolve("fs");
    Usage usage = sn.usage(key);
    assertThat(usage).as("usage of %s against du of %s", key, upper)
        .isEqualTo(new Usage(du(upper, "--inodes"), du(upper, "--block-size=1")));
  }

  static long du(Path p, String mode) throws IOException {
    Process proc = new ProcessBuilder("du", "-s", mode, p.toString()).redirectErrorStream(true).start();
    String out = new String(proc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    try {
      assertThat(proc.waitFor(60, TimeUnit.SECONDS)).isTrue();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("du " + p);
    }
    assertThat(proc.exitValue()).as(out).isZero();
    return Long.parseLong(out.split("\\s+")[0]);
  }
}
