package dev.lamina.processor;

import dev.lamina.compression.Compression;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.oci.MediaTypes;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Builds the chain of stages that turns a layer blob into a plain tar, as containerd's
 * {@code diff.GetProcessor} loop does: a configured program for the current media type if there
 * is one, else the built-in decompressor, until a plain tar media type is reached.
 */
public final class StreamProcessors {
  private static final int MAX_STAGES = 8;
  /** What an external gzip program reads, whatever the layer's label said. */
  private static final String GUNZIP_INPUT = "application/gzip";
  private static final Set<String> PLAIN = Set.of(
      MediaTypes.OCI_LAYER, MediaTypes.DOCKER_LAYER, MediaTypes.OCI_LAYER_NONDISTRIBUTABLE);

  private final List<BinaryProcessorConfig> binaries;
  /** Inflates gzip data when the built-in stage finds it; null: java.util.zip does. */
  private final BinaryProcessorConfig gunzip;

  public StreamProcessors(List<BinaryProcessorConfig> binaries) {
    this(binaries, null);
  }

  private StreamProcessors(List<BinaryProcessorConfig> binaries, BinaryProcessorConfig gunzip) {
    this.binaries = List.copyOf(binaries);
    this.gunzip = gunzip;
  }

  /**
   * These processors, with gzip data that the built-in stage finds inflated by {@code program}
   * ({@code program -d -c}, stdin to stdout) instead of by the JVM's zlib: igzip inflates some
   * four times as fast, unpigz twice (containerd uses unpigz the same way when it finds one). A
   * program that fails (corrupt or truncated data) fails the layer with its exit status and stderr.
   */
  public StreamProcessors withGunzip(Path program) {
    return new StreamProcessors(binaries, new BinaryProcessorConfig("gunzip", List.of(GUNZIP_INPUT),
        MediaTypes.OCI_LAYER, program.toString(), List.of("-d", "-c"), Map.of()));
  }

  /** The program that inflates gzip data, if not the JVM. */
  public Optional<Path> gunzip() {
    return gunzip == null ? Optional.empty() : Optional.of(Path.of(gunzip.path()));
  }

  /** Only the built-in gzip, zstd and plain handling. */
  public static StreamProcessors builtIn() {
    return new StreamProcessors(List.of());
  }

  /**
   * Opens the chain from {@code blob}. The returned stage's stream is the plain tar; closing it
   * closes every stage and reports the first stage error.
   *
   * @param payloads opaque data for processors, by processor id
   */
  public StreamProcessor open(String mediaType, InputStream blob, Map<String, byte[]> payloads) throws IOException {
    StreamProcessor current = StreamProcessor.of(mediaType == null ? MediaTypes.UNKNOWN : mediaType, blob);
    boolean decompressed = false;
    for (int stage = 0; stage < MAX_STAGES; stage++) {
      BinaryProcessorConfig binary = find(current.mediaType());
      if (binary != null) {
        current = new BinaryProcessor(binary, current, payloads.get(binary.id()));
      } else if (!decompressed && builtIn(current.mediaType())) {
        current = decompressor(current);
        decompressed = true;
      } else {
        throw closing(current, LaminaException.notImplemented("no stream processor for media type \""
            + current.mediaType() + "\" (configure one, or use an OCI or Docker layer media type)"));
      }
      if (PLAIN.contains(current.mediaType())) {
        return current;
      }
    }
    throw closing(current, LaminaException.invalidArgument("stream processors for \"" + mediaType
        + "\" did not reach a plain tar in " + MAX_STAGES + " stages"));
  }

  /** Layer media types whose compression lamina handles itself, by sniffing the magic bytes. */
  private static boolean builtIn(String mediaType) {
    return mediaType.equals(MediaTypes.UNKNOWN) || MediaTypes.LAYERS.contains(mediaType);
  }

  /**
   * Closes an abandoned chain and returns {@code error}: a program whose output is cut off dies of
   * SIGPIPE, and that exit must not hide why the chain was abandoned.
   */
  private static LaminaException closing(StreamProcessor chain, LaminaException error) {
    try {
      chain.close();
    } catch (IOException | RuntimeException e) {
      error.addSuppressed(e);
    }
    return error;
  }

  private BinaryProcessorConfig find(String mediaType) {
    for (BinaryProcessorConfig b : binaries) {
      if (b.accepts().contains(mediaType)) {
        return b;
      }
    }
    return null;
  }

  /** Sniffs the magic bytes instead of trusting the label: registries mislabel layers. */
  private StreamProcessor decompressor(StreamProcessor input) throws IOException {
    BufferedInputStream sniffed = Compression.sniffable(input.stream());
    Compression compression = Compression.detect(sniffed);
    if (compression == Compression.GZIP && gunzip != null) {
      return new BinaryProcessor(gunzip, StreamProcessor.of(GUNZIP_INPUT, sniffed, input), null);
    }
    return StreamProcessor.of(MediaTypes.OCI_LAYER, compression.decompressor(sniffed), input);
  }
}
