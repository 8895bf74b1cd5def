package dev.lamina.cli;

import dev.lamina.archive.ApplyOptions;
import dev.lamina.compression.Compression;
import dev.lamina.diff.AppliedLayer;
import dev.lamina.diff.LayerBlob;
import dev.lamina.diff.StreamApplier;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.posix.Posix;
import dev.lamina.processor.StreamProcessors;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * Steady-state layer apply in this JVM beside GNU tar, alternating, each run on a freshly
 * formatted ext4 loop filesystem and ending with a flush (syncfs for lamina, sync for tar). The
 * warm-up runs let the JIT compile the apply path first, as it is in a running daemon.
 */
@Command(
    name = "bench",
    mixinStandardHelpOptions = true,
    description = {
      "Benchmark layer application in a warm JVM against GNU tar on the same layers.",
      "Needs root: every run gets a fresh ext4 loop filesystem. Prints medians, MB/s and entries/s."
    })
final class BenchCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Option(names = "--runs", paramLabel = "N", defaultValue = "5", description = "Counted runs per side. Default: ${DEFAULT-VALUE}.")
  int runs;

  @Option(names = "--warmup", paramLabel = "N", defaultValue = "2", description = "Uncounted lamina runs first. Default: ${DEFAULT-VALUE}.")
  int warmup;

  @Option(names = "--work", paramLabel = "DIR", defaultValue = "/var/tmp/lamina-bench-apply",
      description = "Scratch directory. Default: ${DEFAULT-VALUE}.")
  Path work;

  @Parameters(paramLabel = "LAYER", arity = "1..*", description = "Layer files (tar, tar+gzip, tar+zstd).")
  List<Path> layers;

  @Override
  public Integer call() throws Exception {
    if (!Posix.get().isRoot()) {
      throw LaminaException.failedPrecondition("bench needs root to mount a fresh ext4 loop filesystem per run");
    }
    PrintWriter out = spec.commandLine().getOut();
    Files.createDirectories(work);
    Path image = work.resolve("fs.img");
    Path mnt = work.resolve("mnt");
    Files.createDirectories(mnt);
    out.printf("%-22s %-7s %9s %15s %9s %11s%n", "layer", "side", "median", "min-max", "MB/s", "entries/s");
    for (Path layer : layers) {
      Compression c;
      try (InputStream in = new BufferedInputStream(Files.newInputStream(layer))) {
        c = Compression.detect(in);
      }
      List<Double> lamina = new ArrayList<>();
      List<Double> tar = new ArrayList<>();
      long size = 0;
      long entries = 0;
      for (int i = 0; i < warmup + runs; i++) {
        freshFilesystem(image, mnt);
        long t0 = System.nanoTime();
        AppliedLayer applied;
        try (InputStream in = Files.newInputStream(layer)) {
          applied = new StreamApplier(StreamProcessors.builtIn()).apply(LayerBlob.of(in), mnt, ApplyOptions.defaults());
        }
        Posix.get().syncfs(mnt);
        double seconds = (System.nanoTime() - t0) / 1e9;
        size = applied.size();
        entries = applied.stats().entries();
        unmount(mnt);
        if (i < warmup) {
          continue;
        }
        lamina.add(seconds);
        freshFilesystem(image, mnt);
        String decompress = switch (c) {
          case GZIP -> "gzip -dc ";
          case ZSTD -> "zstd -dc ";
          case NONE -> "cat ";
        };
        t0 = System.nanoTime();
        run("sh", "-c", decompress + quote(layer) + " | tar -x --same-owner --numeric-owner --xattrs "
            + "--xattrs-include='*' -C " + quote(mnt) + " && sync");
        tar.add((System.nanoTime() - t0) / 1e9);
        unmount(mnt);
      }
      row(out, layer, "lamina", lamina, size, entries);
      row(out, layer, "gnutar", tar, size, entries);
      out.flush();
    }
    Files.deleteIfExists(image);
    return 0;
  }

  private static void row(PrintWriter out, Path layer, String side, List<Double> s, long size, long entries) {
    List<Double> sorted = new ArrayList<>(s);
    sorted.sort(null);
    int n = sorted.size();
    double median = n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
    out.printf(Locale.ROOT, "%-22s %-7s %8.2fs %6.2f-%-7.2f %9.0f %11.0f%n", layer.getFileName(), side, median,
        sorted.get(0), sorted.get(n - 1), size / 1e6 / median, entries / median);
  }

  private static void freshFilesystem(Path image, Path mnt) throws IOException, InterruptedException {
    Files.deleteIfExists(image);
    run("truncate", "-s", "8G", image.toString());
    run("mkfs.ext4", "-q", "-F", image.toString());
    run("mount", "-o", "loop", image.toString(), mnt.toString());
  }

  private static void unmount(Path mnt) throws IOException, InterruptedException {
    run("umount", mnt.toString());
  }

  private static String quote(Path p) {
    return "'" + p.toAbsolutePath().toString().replace("'", "'\\''") + "'";
  }

  private static void run(String... command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    if (p.waitFor() != 0) {
      throw LaminaException.failedPrecondition(String.join(" ", command) + " failed: " + output.strip());
    }
  }
}
