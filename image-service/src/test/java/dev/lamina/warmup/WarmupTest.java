package dev.lamina.warmup;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lamina.archive.TarEntry;
import dev.lamina.archive.TarReader;
import dev.lamina.compression.Compression;
import dev.lamina.fs.RemoveAll;
import dev.lamina.server.SnapshotterKind;
import dev.lamina.snapshots.overlay.OverlaySnapshotter;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
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
    // 8 calls per layer of the chain, one list, then one remove per committed layer; 6 per layer
    // of the containerd-style chain and a remove each
    assertThat(r.snapshotOperations())
        .isEqualTo(Warmup.SNAPSHOT_ROUNDS * 8 + 1 + Warmup.SHORT_CALLS + 3 * Warmup.LAYER_CYCLES + 2 + Warmup.SNAPSHOT_ROUNDS
            + 7 * Warmup.CONTAINERD_STYLE_ROUNDS);
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

    String manifest = new String(image.manifest(), StandardCharsets.UTF_8);
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
    List<TarEntry> entries = tarEntries(GeneratedImage.generate(3, tmp, true));

    assertThat(entries).extracting(TarEntry::type)
        .contains(TarEntry.Type.CHAR_DEVICE, TarEntry.Type.SYMLINK, TarEntry.Type.HARDLINK);
    assertThat(entries).extracting(TarEntry::name).contains("./");
    assertThat(entries).extracting(TarEntry::name).anyMatch(n -> n.chars().anyMatch(c -> c > 0xff)
        && n.getBytes(StandardCharsets.UTF_8).length > 100); // a PAX path beyond Latin-1
    assertThat(entries).extracting(TarEntry::linkName).anyMatch(l -> l.startsWith("/")
        && l.getBytes(StandardCharsets.UTF_8).length > 100); // a PAX linkpath, absolute
    assertThat(entries).extracting(TarEntry::gid).contains(0, 42);
    assertThat(entries).extracting(TarEntry::name).anyMatch(n -> n.split("/").length > 12)
        .anyMatch(n -> n.substring(n.lastIndexOf('/') + 1).startsWith(".") && !n.contains("/.wh."));
  }

  @Test
  void withoutDevicesTheImageHasNoDeviceNodes() throws Exception {
    List<TarEntry> entries = tarEntries(GeneratedImage.generate(3, tmp, false));

    assertThat(entries).isNotEmpty().extracting(TarEntry::type).doesNotContain(TarEntry.Type.CHAR_DEVICE);
  }

  /** Every entry of every layer of {@code image}, in order. */
  private static List<TarEntry> tarEntries(GeneratedImage image) throws IOException {
    List<TarEntry> all = new ArrayList<>();
    for (Path layer : image.layers().values()) {
      try (InputStream in = Compression.decompress(Files.newInputStream(layer))) {
        TarReader reader = new TarReader(in);
        for (TarEntry e; (e = reader.next()) != null; ) {
          all.add(e);
        }
      }
    }
    return all;
  }

  private static List<Path> entries(Path dir) throws IOException {
    try (Stream<Path> s = Files.list(dir)) {
      return s.toList();
    }
  }
}
