package dev.lamina.processor;

import dev.lamina.compression.Compression;
import dev.lamina.errdefs.LaminaException;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Builds the chain of stages that turns a layer blob into a plain tar, as containerd's
 * {@code diff.GetProcessor} loop does: a configured program for the current media type if there
 * is one, else the built-in decompressor, until a plain tar media type is reached.
 */
public final class StreamProcessors {
  private static final int MAX_STAGES = 8;
  private static final Set<String> PLAIN = Set.of(
      MediaTypes.OCI_LAYER, MediaTypes.DOCKER_LAYER, MediaTypes.OCI_LAYER_NONDISTRIBUTABLE);

  private final List<BinaryProcessorConfig> binaries;

  public StreamProcessors(List<BinaryProcessorConfig> binaries) {
    this.binaries = List.copyOf(binaries);
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
      } else if (!decompressed && MediaTypes.BUILT_IN.contains(current.mediaType())) {
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
  private static StreamProcessor decompressor(StreamProcessor input) throws IOException {
    InputStream plain = Compression.decompress(input.stream());
    return new StreamProcessor() {
      @Override
      public String mediaType() {
        return MediaTypes.OCI_LAYER;
      }

      @Override
      public InputStream stream() {
        return plain;
      }

      @Override
      public void close() throws IOException {
        try {
          plain.close();
        } finally {
          input.close();
        }
      }
    };
  }
}
