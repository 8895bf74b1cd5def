package dev.lamina.cli;

import dev.lamina.archive.ApplyOptions;
import dev.lamina.archive.WhiteoutMode;
import dev.lamina.diff.AppliedLayer;
import dev.lamina.diff.LayerBlob;
import dev.lamina.diff.StreamApplier;
import dev.lamina.digest.Digest;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.fs.RemoveAll;
import dev.lamina.processor.StreamProcessors;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(
    name = "apply",
    mixinStandardHelpOptions = true,
    description = {
      "Apply an OCI layer (tar, tar+gzip or tar+zstd) onto DIR.",
      "The compression is detected from the layer's first bytes.",
      "Prints the diff ID (digest of the uncompressed tar) and sizes."
    })
final class LayerApplyCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--whiteouts", paramLabel = "MODE", defaultValue = "naive",
      description = "naive: whiteouts remove files (DIR is a merged tree); overlay: whiteouts become "
          + "0/0 char devices and opaque xattrs (DIR is an overlay upper dir). Default: ${DEFAULT-VALUE}.")
  String whiteouts;

  @Option(names = "--diff-id", paramLabel = "DIGEST",
      description = "Fail unless the uncompressed layer has this digest.")
  String diffId;

  @Option(names = "--no-devices", description = "Reject char and block device entries.")
  boolean noDevices;

  @Option(names = "--json", description = "Print the result as JSON.")
  boolean json;

  @Parameters(index = "0", paramLabel = "DIR", description = "Directory to apply onto; created if missing.")
  Path dir;

  @Parameters(index = "1", paramLabel = "LAYER", description = "Layer file, or - for standard input.")
  String layer;

  @Override
  public Integer call() throws Exception {
    WhiteoutMode mode = switch (whiteouts) {
      case "naive" -> WhiteoutMode.NAIVE;
      case "overlay" -> WhiteoutMode.OVERLAY;
      default -> throw LaminaException.invalidArgument(
          "unknown --whiteouts \"" + whiteouts + "\": want naive or overlay");
    };
    Digest expected = diffId == null ? null : Digest.parse(diffId);
    Files.createDirectories(dir);
    // The diff ID is known only once the whole layer is read. Into an empty DIR, the layer is
    // applied in a new directory beside it, which replaces DIR only when the digest matches; a DIR
    // with content is applied in place, and a mismatch leaves it partly written.
    Path staging = expected != null && isEmpty(dir) ? stagingDir(dir) : null;
    Path target = staging == null ? dir : staging;
    ApplyOptions options = ApplyOptions.defaults().withWhiteouts(mode).withAllowDevices(!noDevices);
    AppliedLayer applied;
    try (InputStream in = layer.equals("-") ? System.in : Files.newInputStream(Path.of(layer))) {
      applied = new StreamApplier(StreamProcessors.builtIn())
          .apply(new LayerBlob("", in, expected, Map.of()), target, options);
      if (staging != null) {
        Files.delete(dir);
        Files.move(staging, dir, StandardCopyOption.ATOMIC_MOVE);
        staging = null;
      }
    } catch (java.nio.file.NoSuchFileException e) {
      throw LaminaException.notFound("layer file " + e.getFile() + " does not exist");
    } catch (LaminaException e) {
      String state = staging != null ? " (" + dir + " is unchanged)"
          : expected != null && e.kind() == dev.lamina.errdefs.ErrorKind.DATA_LOSS
              ? " (" + dir + " had content, so the layer was applied in place: it may be partly written)" : "";
      throw new LaminaException(e.kind(), "apply " + layer + " onto " + dir + ": " + e.getMessage()
          + hint(e) + state, e);
    } finally {
      if (staging != null) {
        RemoveAll.remove(staging);
      }
    }
    PrintWriter out = spec.commandLine().getOut();
    if (json) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("diffId", applied.diffId().toString());
      m.put("size", applied.size());
      m.put("compressedSize", applied.compressedSize());
      m.put("entries", applied.stats().entries());
      m.put("contentBytes", applied.stats().contentBytes());
      m.put("seconds", applied.elapsed().toNanos() / 1e9);
      out.println(Json.compact(m));
    } else {
      out.printf("diff id      %s%n", applied.diffId());
      out.printf("size         %s uncompressed (%d bytes), %s read%n",
          Units.bytes(applied.size()), applied.size(), Units.bytes(applied.compressedSize()));
      out.printf("entries      %d%n", applied.stats().entries());
      out.printf("took         %s (%s, %s)%n", Units.seconds(applied.elapsed()),
          Units.rate(applied.size(), applied.elapsed()),
          Units.perSecond(applied.stats().entries(), applied.elapsed(), "entries"));
    }
    out.flush();
    return 0;
  }

  private static boolean isEmpty(Path dir) throws java.io.IOException {
    try (java.util.stream.Stream<Path> entries = Files.list(dir)) {
      return entries.findAny().isEmpty();
    }
  }

  /** A new directory beside {@code dir}, on its file system, with {@code dir}'s permissions. */
  private static Path stagingDir(Path dir) throws java.io.IOException {
    Path absolute = dir.toAbsolutePath();
    Path staging = absolute.resolveSibling("." + absolute.getFileName() + ".apply-" + ProcessHandle.current().pid()
        + "-" + System.nanoTime());
    Files.createDirectory(staging);
    Files.setPosixFilePermissions(staging, Files.getPosixFilePermissions(absolute));
    return staging;
  }

  private static String hint(LaminaException e) {
    return switch (e.kind()) {
      case DATA_LOSS -> " (the layer is not the one expected; fetch it again or check --diff-id)";
      case PERMISSION_DENIED -> " (owners, devices and trusted xattrs need root)";
      default -> "";
    };
  }
}
