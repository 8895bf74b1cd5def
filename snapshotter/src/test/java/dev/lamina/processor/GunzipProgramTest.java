package dev.lamina.processor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assumptions.assumeThat;

import dev.lamina.archive.ApplyOptions;
import dev.lamina.archive.LayerFixture;
import dev.lamina.compression.Compression;
import dev.lamina.diff.AppliedLayer;
import dev.lamina.diff.LayerBlob;
import dev.lamina.diff.StreamApplier;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.oci.MediaTypes;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.SequenceInputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * gzip layers inflated by an external program ({@link StreamProcessors#withGunzip}): every
 * gzip-compatible program on this machine (gzip itself always; igzip and unpigz where installed)
 * must give what the JVM's zlib gives, and bad data must fail the layer naming the program.
 */
class GunzipProgramTest {
  @TempDir Path tmp;

  static Stream<Path> programs() {
    List<Path> found = new ArrayList<>();
    for (String name : List.of("gzip", "igzip", "unpigz")) {
      for (String dir : List.of("/usr/bin", "/bin", "/usr/local/bin")) {
        Path p = Path.of(dir, name);
        if (Files.isExecutable(p)) {
          found.add(p);
          break;
        }
      }
    }
    assumeThat(found).as("a gzip program in /usr/bin").isNotEmpty();
    return found.stream();
  }

  /** A layer of some megabytes: text that compresses, random bytes that do not, many small files. */
  private static byte[] layer() throws IOException {
    Random random = new Random(3);
    List<LayerFixture.Item> entries = new ArrayList<>();
    entries.add(LayerFixture.dirEntry("data/", 0755));
    for (int i = 0; i < 200; i++) {
      entries.add(LayerFixture.fileEntry("data/small-" + i, "line " + i + "\n".repeat(i % 7), 0644));
    }
    byte[] noise = new byte[3 << 20];
    random.nextBytes(noise);
    entries.add(LayerFixture.fileEntry("data/noise", noise, 0644));
    entries.add(LayerFixture.fileEntry("data/text", "compressible ".repeat(200_000), 0644));
    return LayerFixture.tar(entries);
  }

  private static byte[] gzip(byte[] data) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (OutputStream c = Compression.GZIP.compressor(out)) {
      c.write(data);
    }
    return out.toByteArray();
  }

  private static byte[] read(StreamProcessors processors, String mediaType, byte[] blob) throws IOException {
    StreamProcessor chain = processors.open(mediaType, new ByteArrayInputStream(blob), Map.of());
    try {
      return chain.stream().readAllBytes();
    } finally {
      chain.close();
    }
  }

  @ParameterizedTest
  @MethodSource("programs")
  void inflatesWhatTheJvmInflates(Path program) throws IOException {
    byte[] tar = layer();
    byte[] blob = gzip(tar);

    assertThat(read(StreamProcessors.builtIn().withGunzip(program), MediaTypes.OCI_LAYER_GZIP, blob)).isEqualTo(tar);
  }

  @ParameterizedTest
  @MethodSource("programs")
  void appliesTheLayerWithTheSameDiffId(Path program) throws IOException {
    byte[] blob = gzip(layer());
    Path viaJvm = Files.createDirectory(tmp.resolve("jvm"));
    Path viaProgram = Files.createDirectory(tmp.resolve("program"));

    AppliedLayer expected = new StreamApplier(StreamProcessors.builtIn()).apply(
        new LayerBlob(MediaTypes.OCI_LAYER_GZIP, new ByteArrayInputStream(blob), null, Map.of()), viaJvm,
        ApplyOptions.defaults());
    AppliedLayer actual = new StreamApplier(StreamProcessors.builtIn().withGunzip(program)).apply(
        new LayerBlob(MediaTypes.OCI_LAYER_GZIP, new ByteArrayInputStream(blob), null, Map.of()), viaProgram,
        ApplyOptions.defaults());

    assertThat(actual.diffId()).isEqualTo(expected.diffId());
    assertThat(Files.readAllBytes(viaProgram.resolve("data/noise")))
        .isEqualTo(Files.readAllBytes(viaJvm.resolve("data/noise")));
  }

  @ParameterizedTest
  @MethodSource("programs")
  void corruptDataFailsTheLayerNamingTheProgram(Path program) throws IOException {
    byte[] blob = gzip(layer());
    blob[blob.length / 2] ^= 0x55;
    blob[blob.length / 2 + 1] ^= 0x55;
    Path target = Files.createDirectory(tmp.resolve("target"));
    StreamApplier applier = new StreamApplier(StreamProcessors.builtIn().withGunzip(program));

    assertThatThrownBy(() -> applier.apply(
        new LayerBlob(MediaTypes.OCI_LAYER_GZIP, new ByteArrayInputStream(blob), null, Map.of()), target,
        ApplyOptions.defaults()))
        .isInstanceOfSatisfying(LaminaException.class,
            e -> assertThat(e.kind()).isEqualTo(ErrorKind.INVALID_ARGUMENT))
        .hasMessageContaining(program.toString());
  }

  @ParameterizedTest
  @MethodSource("programs")
  void truncatedDataFails(Path program) throws IOException {
    byte[] blob = gzip(layer());
    byte[] truncated = Arrays.copyOf(blob, blob.length - 100);

    assertThatThrownBy(() -> read(StreamProcessors.builtIn().withGunzip(program), MediaTypes.OCI_LAYER_GZIP,
        truncated))
        .isInstanceOfSatisfying(LaminaException.class,
            e -> assertThat(e.kind()).isEqualTo(ErrorKind.INVALID_ARGUMENT))
        .hasMessageContaining(program.toString());
  }

  @ParameterizedTest
  @MethodSource("programs")
  void aDownloadThatBreaksOffKeepsItsKind(Path program) throws IOException {
    byte[] blob = gzip(layer());
    InputStream breaksOff = new SequenceInputStream(new ByteArrayInputStream(blob, 0, blob.length / 2),
        new InputStream() {
          @Override
          public int read() throws IOException {
            throw new LaminaException(ErrorKind.UNAVAILABLE, "registry went away");
          }
        });
    Path target = Files.createDirectory(tmp.resolve("target"));
    StreamApplier applier = new StreamApplier(StreamProcessors.builtIn().withGunzip(program));

    // UNAVAILABLE is what makes the pull retry, and resume the download
    assertThatThrownBy(() -> applier.apply(new LayerBlob(MediaTypes.OCI_LAYER_GZIP, breaksOff, null, Map.of()),
        target, ApplyOptions.defaults()))
        .isInstanceOfSatisfying(LaminaException.class, e -> assertThat(e.kind()).isEqualTo(ErrorKind.UNAVAILABLE))
        .hasMessageContaining("registry went away");
  }

  @Test
  void zstdAndPlainLayersNeverStartTheProgram() throws IOException {
    byte[] tar = layer();
    ByteArrayOutputStream zstd = new ByteArrayOutputStream();
    try (OutputStream c = Compression.ZSTD.compressor(zstd)) {
      c.write(tar);
    }
    // a program that cannot start: were it started, the read would fail
    StreamProcessors processors = StreamProcessors.builtIn().withGunzip(tmp.resolve("no-such-gunzip"));

    assertThat(read(processors, MediaTypes.OCI_LAYER_ZSTD, zstd.toByteArray())).isEqualTo(tar);
    assertThat(read(processors, MediaTypes.OCI_LAYER, tar)).isEqualTo(tar);
    // sniffed, not trusted: gzip labelled as zstd still goes to the program
    assertThatThrownBy(() -> read(processors, MediaTypes.OCI_LAYER_ZSTD, gzip(tar)))
        .isInstanceOfSatisfying(LaminaException.class,
            e -> assertThat(e.kind()).isEqualTo(ErrorKind.FAILED_PRECONDITION))
        .hasMessageContaining("no-such-gunzip");
  }

  @Test
  void findPrefersIgzipThenUnpigzAndSkipsWhatCannotRun() throws IOException {
    Path a = Files.createDirectory(tmp.resolve("a"));
    Path b = Files.createDirectory(tmp.resolve("b"));
    Path c = Files.createDirectory(tmp.resolve("c"));
    executable(a.resolve("unpigz"));
    executable(b.resolve("igzip"));
    Files.writeString(c.resolve("igzip"), "not executable");

    assertThat(GzipPrograms.find(a + ":" + b)).contains(b.resolve("igzip"));
    assertThat(GzipPrograms.find(c + ":" + a)).contains(a.resolve("unpigz"));
    assertThat(GzipPrograms.find(c.toString())).isEmpty();
    assertThat(GzipPrograms.find("")).isEmpty();
    assertThat(GzipPrograms.find(null)).isEmpty();
  }

  private static void executable(Path p) throws IOException {
    Files.writeString(p, "#!/bin/sh\nexit 0\n");
    Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
  }
}
