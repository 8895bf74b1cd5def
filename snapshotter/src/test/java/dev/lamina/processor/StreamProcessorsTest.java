package dev.lamina.processor;

import static dev.lamina.archive.LayerFixture.dirEntry;
import static dev.lamina.archive.LayerFixture.fileEntry;
import static dev.lamina.fstest.FsTree.dir;
import static dev.lamina.fstest.FsTree.file;
import static dev.lamina.fstest.TreeAssert.assertTreesEqual;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.lamina.archive.ApplyOptions;
import dev.lamina.archive.LayerFixture;
import dev.lamina.compression.Compression;
import dev.lamina.diff.AppliedLayer;
import dev.lamina.diff.LayerBlob;
import dev.lamina.diff.StreamApplier;
import dev.lamina.digest.Digest;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.fstest.FsTree;
import dev.lamina.oci.MediaTypes;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Stream processor chains: configured programs per media type (containerd's
 * {@code stream_processors}) feeding the built-in decompressors, until a plain tar comes out.
 */
class StreamProcessorsTest {
  /** A made-up layer media type; in these tests it is plain gzip underneath. */
  private static final String ROT = "application/vnd.example.layer.v1.tar+rot";
  /** Bigger than a pipe buffer (64 KiB), so a program that does not read it leaves the writer blocked. */
  private static final int UNREAD_INPUT = 4 << 20;

  @TempDir Path tmp;

  private final byte[] layer = LayerFixture.tar(dirEntry("etc/", 0755), fileEntry("etc/motd", "hello\n", 0644));

  private static BinaryProcessorConfig program(String id, String accepts, String returns, Map<String, String> env,
      String... command) {
    return new BinaryProcessorConfig(id, List.of(accepts), returns, command[0],
        List.of(command).subList(1, command.length), env);
  }

  /** A program run by {@code sh -c script}. */
  private static BinaryProcessorConfig script(String id, String accepts, String returns, Map<String, String> env,
      String script) {
    return program(id, accepts, returns, env, "/bin/sh", "-c", script);
  }

  /** What the chain yields for {@code blob}; closing it reports stage errors. */
  private static Output run(StreamProcessors processors, String mediaType, byte[] blob, Map<String, byte[]> payloads)
      throws IOException {
    StreamProcessor chain = processors.open(mediaType, new ByteArrayInputStream(blob), payloads);
    try {
      return new Output(chain.mediaType(), chain.stream().readAllBytes());
    } finally {
      chain.close();
    }
  }

  private record Output(String mediaType, byte[] bytes) {}

  @Test
  void customMediaTypeIsDecodedByItsProgram() throws IOException {
    StreamProcessors processors = new StreamProcessors(List.of(
        program("rot", ROT, MediaTypes.OCI_LAYER, Map.of(), "/bin/gzip", "-dc")));

    Output out = run(processors, ROT, compress(layer, Compression.GZIP), Map.of());

    assertThat(out.bytes()).isEqualTo(layer);
    assertThat(out.mediaType()).isEqualTo(MediaTypes.OCI_LAYER);
  }

  @Test
  void customMediaTypeLayerIsAppliedWithItsDiffId() throws IOException {
    StreamApplier applier = new StreamApplier(new StreamProcessors(List.of(
        program("rot", ROT, MediaTypes.OCI_LAYER, Map.of(), "/bin/gzip", "-dc"))));
    Path target = Files.createDirectory(tmp.resolve("target"));
    Path expected = tmp.resolve("expected");
    FsTree.apply(expected, dir("etc", 0755), file("etc/motd", "hello\n", 0644));
    byte[] blob = compress(layer, Compression.GZIP);

    AppliedLayer applied = applier.apply(new LayerBlob(ROT, new ByteArrayInputStream(blob), Digest.sha256Of(layer),
        Map.of()), target, ApplyOptions.defaults());

    assertTreesEqual(expected, target);
    assertThat(applied.diffId()).isEqualTo(Digest.sha256Of(layer));
    assertThat(applied.compressedSize()).isEqualTo(blob.length);
  }

  @ParameterizedTest
  @EnumSource(value = Compression.class, names = {"GZIP", "ZSTD"})
  void programOutputIsChainedIntoTheBuiltInDecompressor(Compression compression) throws IOException {
    StreamProcessors processors = new StreamProcessors(List.of(
        program("passthrough", ROT, compression.ociMediaType(), Map.of(), "/bin/cat")));

    Output out = run(processors, ROT, compress(layer, compression), Map.of());

    assertThat(out.bytes()).isEqualTo(layer);
    assertThat(out.mediaType()).isEqualTo(MediaTypes.OCI_LAYER);
  }

  @Test
  void programsChainUntilAPlainTar() throws IOException {
    String middle = "application/vnd.example.layer.v1.tar+gzip+base64";
    StreamProcessors processors = new StreamProcessors(List.of(
        program("unbase64", ROT, middle, Map.of(), "/usr/bin/base64", "-d"),
        program("gunzip", middle, MediaTypes.OCI_LAYER, Map.of(), "/bin/gzip", "-dc")));
    byte[] blob = LayerFixture.run(compress(layer, Compression.GZIP), "/usr/bin/base64");

    assertThat(run(processors, ROT, blob, Map.of()).bytes()).isEqualTo(layer);
  }

  @Test
  void programSeesTheInputMediaTypeAndItsConfiguredEnvironment() throws IOException {
    StreamProcessors processors = new StreamProcessors(List.of(script("rot", ROT, MediaTypes.OCI_LAYER,
        Map.of("WANT_MEDIATYPE", ROT, "WANT_FLAG", "on"),
        "[ \"$STREAM_PROCESSOR_MEDIATYPE\" = \"$WANT_MEDIATYPE\" ] || { echo \"media type $STREAM_PROCESSOR_MEDIATYPE\" >&2; exit 1; }\n"
            + "[ \"$WANT_FLAG\" = on ] || { echo 'no env' >&2; exit 1; }\n"
            + "exec gzip -dc")));

    assertThat(run(processors, ROT, compress(layer, Compression.GZIP), Map.of()).bytes()).isEqualTo(layer);
  }

  @Test
  void failingProgramNamesItselfAndItsStderr() throws IOException {
    StreamProcessors processors = new StreamProcessors(List.of(script("decrypt", ROT, MediaTypes.OCI_LAYER, Map.of(),
        "cat > /dev/null; echo 'decryption key rejected' >&2; exit 3")));

    assertThatThrownBy(() -> run(processors, ROT, layer, Map.of()))
        .isInstanceOf(LaminaException.class)
        .hasMessageContaining("decrypt")
        .hasMessageContaining("status 3")
        .hasMessageContaining("decryption key rejected");
  }

  /** The program quits without reading its input: its exit status, not the broken pipe, is the error. */
  @Test
  void failingProgramThatLeavesItsInputUnreadNamesItselfAndItsStderr() throws IOException {
    StreamProcessors processors = new StreamProcessors(List.of(script("decrypt", ROT, MediaTypes.OCI_LAYER, Map.of(),
        "echo 'decryption key rejected' >&2; exit 3")));
    byte[] big = random(UNREAD_INPUT);

    for (int attempt = 0; attempt < 5; attempt++) {
      assertThatThrownBy(() -> run(processors, ROT, big, Map.of()))
          .isInstanceOf(LaminaException.class)
          .hasMessageContaining("decrypt")
          .hasMessageContaining("status 3")
          .hasMessageContaining("decryption key rejected");
    }
  }

  @Test
  void failingProgramFailsTheApply() throws IOException {
    StreamApplier applier = new StreamApplier(new StreamProcessors(List.of(script("decrypt", ROT, MediaTypes.OCI_LAYER,
        Map.of(), "cat > /dev/null; echo 'bad key' >&2; exit 1"))));
    Path target = Files.createDirectory(tmp.resolve("target"));

    assertThatThrownBy(() -> applier.apply(new LayerBlob(ROT, new ByteArrayInputStream(layer), null, Map.of()), target,
        ApplyOptions.defaults()))
        .isInstanceOf(LaminaException.class)
        .hasMessageContaining("decrypt")
        .hasMessageContaining("bad key");
  }

  @Test
  void payloadIsHandedOverInAPrivateFileThatIsRemovedAfterwards() throws IOException {
    Path record = tmp.resolve("payload-path");
    StreamProcessors processors = new StreamProcessors(List.of(script("decrypt", ROT, MediaTypes.OCI_LAYER,
        Map.of("RECORD", record.toString()),
        "f=\"$STREAM_PROCESSOR_PAYLOAD_FILE\"\n"
            + "[ \"$(stat -c %a \"$f\")\" = 600 ] || { echo \"payload mode $(stat -c %a \"$f\")\" >&2; exit 1; }\n"
            + "[ \"$(cat \"$f\")\" = key-123 ] || { echo 'wrong payload' >&2; exit 1; }\n"
            + "printf %s \"$f\" > \"$RECORD\"\n"
            + "exec gzip -dc")));

    Output out = run(processors, ROT, compress(layer, Compression.GZIP),
        Map.of("decrypt", "key-123".getBytes(StandardCharsets.UTF_8)));

    assertThat(out.bytes()).isEqualTo(layer);
    assertThat(Path.of(Files.readString(record))).doesNotExist();
  }

  @Test
  void programMayWriteItsPayloadAsTheLayer() throws IOException {
    StreamProcessors processors = new StreamProcessors(List.of(script("stored", ROT, MediaTypes.OCI_LAYER, Map.of(),
        "cat \"$STREAM_PROCESSOR_PAYLOAD_FILE\"; cat > /dev/null")));

    Output out = run(processors, ROT, "a reference, not the layer".getBytes(StandardCharsets.UTF_8),
        Map.of("stored", layer));

    assertThat(out.bytes()).isEqualTo(layer);
  }

  /** Like Go's os/exec for containerd: a program that succeeds need not read all of its input. */
  @Test
  void programThatSucceedsWithoutReadingItsInputIsNotAnError() throws IOException {
    StreamProcessors processors = new StreamProcessors(List.of(script("stored", ROT, MediaTypes.OCI_LAYER, Map.of(),
        "cat \"$STREAM_PROCESSOR_PAYLOAD_FILE\"")));
    byte[] big = random(UNREAD_INPUT);

    for (int attempt = 0; attempt < 5; attempt++) {
      assertThat(run(processors, ROT, big, Map.of("stored", layer)).bytes()).isEqualTo(layer);
    }
  }

  @Test
  void payloadForAnotherProcessorIsNotPassed() throws IOException {
    StreamProcessors processors = new StreamProcessors(List.of(script("rot", ROT, MediaTypes.OCI_LAYER, Map.of(),
        "[ -z \"${STREAM_PROCESSOR_PAYLOAD_FILE+set}\" ] || { echo 'got a payload' >&2; exit 1; }\n"
            + "exec gzip -dc")));

    Output out = run(processors, ROT, compress(layer, Compression.GZIP),
        Map.of("someone-else", "secret".getBytes(StandardCharsets.UTF_8)));

    assertThat(out.bytes()).isEqualTo(layer);
  }

  @Test
  void unknownMediaTypeWithoutAProcessorIsNotImplemented() {
    StreamProcessors processors = new StreamProcessors(List.of(
        program("rot", ROT, MediaTypes.OCI_LAYER, Map.of(), "/bin/gzip", "-dc")));
    String unknown = "application/vnd.example.layer.v1.tar+unknown";

    assertThatThrownBy(() -> run(processors, unknown, layer, Map.of()))
        .isInstanceOfSatisfying(LaminaException.class, e -> assertThat(e.kind()).isEqualTo(ErrorKind.NOT_IMPLEMENTED))
        .hasMessageContaining(unknown);
  }

  @Test
  void programReturningAnUnknownMediaTypeIsNotImplemented() {
    String odd = "application/vnd.example.intermediate";
    StreamProcessors processors = new StreamProcessors(List.of(program("rot", ROT, odd, Map.of(), "/bin/cat")));

    assertThatThrownBy(() -> run(processors, ROT, layer, Map.of()))
        .isInstanceOfSatisfying(LaminaException.class, e -> assertThat(e.kind()).isEqualTo(ErrorKind.NOT_IMPLEMENTED))
        .hasMessageContaining(odd);
  }

  @Test
  void processorsThatNeverReachAPlainTarAreAnError() {
    String other = "application/vnd.example.layer.v1.tar+other";
    StreamProcessors processors = new StreamProcessors(List.of(
        program("there", ROT, other, Map.of(), "/bin/cat"),
        program("back", other, ROT, Map.of(), "/bin/cat")));

    assertThatThrownBy(() -> run(processors, ROT, layer, Map.of()))
        .isInstanceOfSatisfying(LaminaException.class, e -> assertThat(e.kind()).isEqualTo(ErrorKind.INVALID_ARGUMENT))
        .hasMessageContaining("did not reach a plain tar");
  }

  @Test
  void missingProgramIsAFailedPreconditionNamingTheProcessor() {
    StreamProcessors processors = new StreamProcessors(List.of(
        program("rot", ROT, MediaTypes.OCI_LAYER, Map.of(), tmp.resolve("no-such-program").toString())));

    assertThatThrownBy(() -> run(processors, ROT, layer, Map.of()))
        .isInstanceOfSatisfying(LaminaException.class,
            e -> assertThat(e.kind()).isEqualTo(ErrorKind.FAILED_PRECONDITION))
        .hasMessageContaining("rot")
        .hasMessageContaining("no-such-program");
  }

  @Test
  void builtInMediaTypesAreSniffedNotTrusted() throws IOException {
    // labelled gzip, actually zstd: registries mislabel layers
    Output out = run(StreamProcessors.builtIn(), MediaTypes.OCI_LAYER_GZIP, compress(layer, Compression.ZSTD), Map.of());

    assertThat(out.bytes()).isEqualTo(layer);
  }

  @Test
  void configuredProgramTakesPrecedenceOverTheBuiltInDecompressor() throws IOException {
    // the program appends a zero block, so its output differs from what the built-in gunzip gives
    StreamProcessors processors = new StreamProcessors(List.of(script("tagged", MediaTypes.OCI_LAYER_GZIP,
        MediaTypes.OCI_LAYER, Map.of(), "gzip -dc; head -c 1024 /dev/zero")));
    byte[] withTail = java.util.Arrays.copyOf(layer, layer.length + 1024);

    assertThat(run(processors, MediaTypes.OCI_LAYER_GZIP, compress(layer, Compression.GZIP), Map.of()).bytes())
        .isEqualTo(withTail);
  }

  private static byte[] random(int size) {
    byte[] b = new byte[size];
    new Random(7).nextBytes(b);
    return b;
  }

  private static byte[] compress(byte[] data, Compression compression) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (OutputStream c = compression.compressor(out)) {
      c.write(data);
    }
    return out.toByteArray();
  }
}
