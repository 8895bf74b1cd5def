package dev.lamina.images;

import dev.lamina.content.LocalContentStore;
import dev.lamina.posix.Posix;
import dev.lamina.remotes.RegistryClient;
import dev.lamina.remotes.auth.Credentials;
import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.copying.CopyingSnapshotter;
import dev.lamina.snapshots.overlay.OverlaySnapshotter;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * One cold pull through {@link LocalImageManager}, for comparing with containerd by the method of
 * BENCHMARKING.md (a fresh filesystem per run is the caller's job): prints wall seconds of pull plus
 * a final syncfs, CPU seconds and peak RSS of this JVM. Not a test; run it with the test classpath:
 *
 * <pre>
 * java -Xmx256m -cp image-service/target/lamina.jar:image-service/target/test-classes \
 *     dev.lamina.images.PullBenchmark ROOT REFERENCE [overlay|copying] [drop]
 * </pre>
 */
public final class PullBenchmark {
  private PullBenchmark() {}

  /** Pulls a generated image into a scratch root {@code rounds} times, so the JIT has compiled the pull path. */
  static void warmUp(Path scratch, int rounds) throws IOException {
    long t = System.nanoTime();
    java.util.List<Images.Layer> layers = new java.util.ArrayList<>();
    for (int i = 0; i < 3; i++) {
      Images.LayerBuilder l = Images.layer().dir("d" + i, 0755);
      for (int f = 0; f < 1500; f++) {
        l.file("d" + i + "/f" + f, ("content " + f + " ").repeat(50 + f % 200));
      }
      l.randomFiles("d" + i, 4, 1 << 20, i);
      layers.add(l.build());
    }
    Images.Image img = Images.image(layers);
    try (TestRegistry registry = new TestRegistry()) {
      Images.push(registry, "warm", "1", img);
      for (int r = 0; r < rounds; r++) {
        Path root = scratch.resolve("round" + r);
        try (Snapshotter sn = OverlaySnapshotter.open(root);
            LocalContentStore content = LocalContentStore.open(root.resolve("content"));
            LocalImageManager images = LocalImageManager.open(ImageManagerOptions.defaults(root), content, sn,
                RegistryClient.create())) {
          images.pull(registry.authority() + "/warm:1", Credentials.anonymous(), PullListener.NONE);
          images.remove(registry.authority() + "/warm:1");
        }
      }
    }
    System.out.printf(Locale.ROOT, "warm-up %.2f s%n", (System.nanoTime() - t) / 1e9);
  }

  public static void main(String[] args) throws IOException {
    if (args.length < 2) {
      System.err.println("usage: PullBenchmark ROOT REFERENCE [overlay|copying] [drop]");
      System.exit(2);
    }
    Path root = Path.of(args[0]);
    String reference = args[1];
    boolean overlay = args.length < 3 || args[2].equals("overlay");
    boolean drop = args.length >= 4 && args[3].equals("drop");
    if (System.getProperty("warm") != null) {
      warmUp(Path.of(System.getProperty("warm")), Integer.getInteger("warmRounds", 1));
    }
    Files.createDirectories(root);
    long t0 = System.nanoTime();
    try (Snapshotter sn = overlay ? OverlaySnapshotter.open(root) : CopyingSnapshotter.open(root);
        LocalContentStore content = LocalContentStore.open(root.resolve("content"));
        LocalImageManager images = LocalImageManager.open(
            ImageManagerOptions.defaults(root).withDropCompressedLayers(drop), content, sn, RegistryClient.create())) {
      var jit = ManagementFactory.getCompilationMXBean();
      long jit0 = jit.getTotalCompilationTime();
      double cpu0 = ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
          .getProcessCpuTime() / 1e9;
      long t1 = System.nanoTime();
      ImageRecord r = images.pull(reference, Credentials.anonymous(), PullListener.NONE);
      long t2 = System.nanoTime();
      System.out.printf(Locale.ROOT, "during the pull: JIT %.2f s, cpu %.2f s%n", (jit.getTotalCompilationTime() - jit0) / 1e3,
          ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime() / 1e9 - cpu0);
      Posix.get().syncfs(root);
      long t3 = System.nanoTime();
      double cpu = ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
          .getProcessCpuTime() / 1e9;
      String hwm = Files.readAllLines(Path.of("/proc/self/status")).stream().filter(l -> l.startsWith("VmHWM"))
          .findFirst().orElse("VmHWM: ?").replaceAll("\\s+", " ");
      System.out.printf(Locale.ROOT, "open %.2f s, pull %.2f s, sync %.2f s, pull+sync %.2f s, cpu %.2f s, %s,"
              + " image %s, usage %d bytes %d inodes%n",
          (t1 - t0) / 1e9, (t2 - t1) / 1e9, (t3 - t2) / 1e9, (t3 - t1) / 1e9, cpu, hwm, r.id(),
          images.usage().usedBytes(), images.usage().inodesUsed());
    }
  }
}
