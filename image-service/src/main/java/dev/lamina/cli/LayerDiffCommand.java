package dev.lamina.cli;

import dev.lamina.compression.Compression;
import dev.lamina.diff.Comparer;
import dev.lamina.diff.DiffResult;
import dev.lamina.diff.OverlayUpperComparer;
import dev.lamina.diff.WalkingComparer;
import dev.lamina.errdefs.LaminaException;
import java.io.BufferedOutputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(
    name = "diff",
    mixinStandardHelpOptions = true,
    description = {
      "Write the OCI layer that turns LOWER into UPPER.",
      "Additions and changes become entries, removals whiteouts. Equal trees give byte-identical "
          + "layers. With --overlay-upper, UPPER is an overlayfs upper directory and LOWER is not read."
    })
final class LayerDiffCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--compression", paramLabel = "gzip|zstd|none", defaultValue = "gzip",
      description = "Compression of the written layer. Default: ${DEFAULT-VALUE}.")
  String compression;

  @Option(names = "--overlay-upper", description = "UPPER is an overlayfs upper dir (0/0 char devices are "
      + "whiteouts, trusted.overlay.opaque marks opaque dirs); LOWER is not walked.")
  boolean overlayUpper;

  @Option(names = {"--output", "-o"}, required = true, paramLabel = "FILE", description = "Where to write the layer.")
  Path output;

  @Option(names = "--json", description = "Print the result as JSON.")
  boolean json;

  @Parameters(index = "0", paramLabel = "LOWER", description = "The directory before the change.")
  Path lower;

  @Parameters(index = "1", paramLabel = "UPPER",
      description = "The directory after the change, or with --overlay-upper an overlayfs upper directory.")
  Path upper;

  @Override
  public Integer call() throws Exception {
    Compression c;
    try {
      c = Compression.parse(compression);
    } catch (IllegalArgumentException e) {
      throw LaminaException.invalidArgument(e.getMessage());
    }
    for (Path dir : overlayUpper ? new Path[] {upper} : new Path[] {lower, upper}) {
      if (!Files.isDirectory(dir, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
        throw LaminaException.notFound(dir + " is not a directory");
      }
    }
    Comparer comparer = overlayUpper ? new OverlayUpperComparer() : new WalkingComparer();
    Path absolute = output.toAbsolutePath();
    Path parent = absolute.getParent();
    Files.createDirectories(parent);
    // Written beside the target and renamed at the end: a failed diff never leaves a partial layer.
    Path partial = Files.createTempFile(parent, "." + absolute.getFileName() + ".", ".partial");
    long start = System.nanoTime();
    DiffResult result;
    try {
      try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(partial), 1 << 20)) {
        result = comparer.compare(lower, upper, c, out);
      }
      Files.move(partial, absolute, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } finally {
      Files.deleteIfExists(partial);
    }
    Duration took = Duration.ofNanos(System.nanoTime() - start);
    PrintWriter out = spec.commandLine().getOut();
    if (json) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("digest", result.digest().toString());
      m.put("size", result.size());
      m.put("mediaType", result.mediaType());
      m.put("diffId", result.diffId().toString());
      m.put("uncompressedSize", result.uncompressedSize());
      m.put("output", absolute.toString());
      m.put("seconds", took.toNanos() / 1e9);
      out.println(Json.compact(m));
    } else {
      out.printf("digest       %s%n", result.digest());
      out.printf("size         %s (%d bytes, %s)%n", Units.bytes(result.size()), result.size(), result.mediaType());
      out.printf("diff id      %s%n", result.diffId());
      out.printf("uncompressed %s (%d bytes)%n", Units.bytes(result.uncompressedSize()), result.uncompressedSize());
      out.printf("output       %s%n", absolute);
      out.printf("took         %s%n", Units.seconds(took));
    }
    out.flush();
    return 0;
  }
}
