package dev.lamina.warmup;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lamina.fs.RemoveAll;
import dev.lamina.server.SnapshotterKind;
import dev.lamina.snapshots.overlay.OverlaySnapshotter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WarmupTest {
  @TempDir Path disk;
  /** As lamina serve does: memory when there is a tmpfs, where thousands of files come and go fast. */
  Path tmp;

  @BeforeEach
  void scratch() throws IOException {
    Path shm = Path.of("/dev/shm");
    tmp = Files.isDirectory(shm) && Files.isWritable(shm) ? Files.createTempDirectory(shm, "warmup-test-") : disk;
  }

  @AfterEach
  void removeScratch() throws IOException {
    if (!tmp.equals(disk)) {
      RemoveAll.remove(tmp);
    }
  }

  @Test
  void copyingPullsThreeTimesRunsTheSnapshotChainAndLeavesNothing() throws Exception {
    Warmup.Report r = Warmup.run(SnapshotterKind.COPYING, tmp, Duration.ofMinutes(2));

    assertThat(r.pulls()).isEqualTo(Warmup.PULLS);
    // 8 calls per layer of the chain, one list, then one remove per committed layer
    assertThat(r.snapshotOperations())
        .isEqualTo(Warmup.SNAPSHOT_ROUNDS * 8 + 1 + Warmup.SHORT_CALLS + 3 * Warmup.LAYER_CYCLES + 2 + Warmup.SNAPSHOT_ROUNDS);
    assertThat(r.took()).isPositive();
    assertThat(entries(tmp)).isEmpty();
  }

  @Test
  void overlayToo() throws Exception {
    assumeTrue(OverlaySnapshotter.supported(tmp), "overlayfs cannot be mounted here (needs root and overlay)");
    Warmup.Report r = Warmup.run(SnapshotterKind.OVERLAY, tmp, Duration.ofMinutes(2));

    assertThat(r.pulls()).isEqualTo(Warmup.PULLS);
    assertThat(entries(tmp)).isEmpty();
  }

  @Test
  void stopsAtItsBudget() throws Exception {
    Warmup.Report r = Warmup.run(SnapshotterKind.COPYING, tmp, Duration.ZERO);

    assertThat(r.pulls()).isZero();
    assertThat(r.snapshotOperations()).isEqualTo(1); // the closing list
    assertThat(entries(tmp)).isEmpty();
  }

  @Test
  void aScratchParentThatIsAFileFails() throws Exception {
    Path file = Files.writeString(tmp.resolve("file"), "x");

    assertThatThrownBy(() -> Warmup.run(SnapshotterKind.COPYING, file, Duration.ofMinutes(1)))
        .isInstanceOf(IOException.class);
    assertThat(Files.readString(file)).isEqualTo("x");
  }

  @Test
  void theGeneratedImageIsWhatItsManifestSays() throws Exception {
    GeneratedImage image = GeneratedImage.generate(3, tmp, false);

    String manifest = new String(image.manifest(), java.nio.charset.StandardCharsets.UTF_8);
    assertThat(image.layers()).hasSize(3);
    for (var e : image.layers().entrySet()) {
      byte[] blob = Files.readAllBytes(e.getValue());
      assertThat(dev.lamina.digest.Digest.sha256Of(blob).toString()).isEqualTo(e.getKey());
      assertThat(manifest).contains("\"digest\":\"" + e.getKey() + "\",\"size\":" + blob.length);
    }
    assertThat(manifest).contains(image.configDigest().toString())
        .contains("tar+gzip").contains("tar+zstd");
  }

  @Test
  void theGeneratedLayersCarryWhatDistributionLayersCarry() throws Exception {
    GeneratedImage image = GeneratedImage.generate(3, tmp, true);

    java.util.Set<dev.lamina.archive.TarEntry.Type> types = java.util.EnumSet.noneOf(
        dev.lamina.archive.TarEntry.Type.class);
    java.util.List<String> names = new java.util.ArrayList<>();
    java.util.List<String> links = new java.util.ArrayList<>();
    java.util.Set<Integer> groups = new java.util.HashSet<>();
    for (Path layer : image.layers().values()) {
      try (var in = dev.lamina.compression.Compression.decompress(Files.newInputStream(layer))) {
        var reader = new dev.lamina.archive.TarReader(in);
        dev.lamina.archive.TarEntry e;
        while ((e = reader.next()) != null) {
          types.add(e.type());
          names.add(e.name());
          links.add(e.linkName());
          groups.add(e.gid());
        }
      }
    }
    assertThat(types).contains(dev.lamina.archive.TarEntry.Type.CHAR_DEVICE,
        dev.lamina.archive.TarEntry.Type.SYMLINK, dev.lamina.archive.TarEntry.Type.HARDLINK);
    assertThat(names).contains("./");
    assertThat(names).anyMatch(n -> n.chars().anyMatch(c -> c > 0xff) && n.getBytes(
        java.nio.charset.StandardCharsets.UTF_8).length > 100); // a PAX path beyond Latin-1
    assertThat(links).anyMatch(l -> l.startsWith("/") && l.getBytes(
        java.nio.charset.StandardCharsets.UTF_8).length > 100); // a PAX linkpath, absolute
    assertThat(groups).contains(0, 42);
  }

  @Test
  void withoutDevicesTheImageHasNoDeviceNodes() throws Exception {
    GeneratedImage image = GeneratedImage.generate(3, tmp, false);

    for (Path layer : image.layers().values()) {
      try (var in = dev.lamina.compression.Compression.decompress(Files.newInputStream(layer))) {
        var reader = new dev.lamina.archive.TarReader(in);
        dev.lamina.archive.TarEntry e;
        while ((e = reader.next()) != null) {
          assertThat(e.type()).isNotEqualTo(dev.lamina.archive.TarEntry.Type.CHAR_DEVICE);
        }
      }
    }
  }

  private static java.util.List<Path> entries(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.toList();
    }
  }
}
