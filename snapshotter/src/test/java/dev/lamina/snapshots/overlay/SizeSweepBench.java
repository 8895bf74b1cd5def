package dev.lamina.snapshots.overlay;

import dev.lamina.fs.DiskUsage;
import dev.lamina.posix.Posix;
import dev.lamina.snapshots.Usage;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Not a test: the Java side of bench/sizes.sh. Prepares {@code containers} active snapshots on
 * the overlay snapshotter at {@code DIR/root}, writes into each upper dir a number of files spread
 * geometrically from {@code minFiles} to {@code maxFiles} (100 files a directory, 0 to 4 KiB
 * each), then times {@code rounds} size sweeps of all of them each way: {@code usage(key)} (one
 * quotactl per container when the filesystem has project quotas) and a walk of the upper dir
 * ({@link DiskUsage#of}, what usage does without them). CPU is the whole process's (JIT and GC
 * included), read from the JVM before and after a sweep. Writes the upper dirs to
 * {@code DIR/uppers.txt} for the script's {@code du -s} sweep.
 *
 * <p>Run: {@code java -cp CLASSPATH dev.lamina.snapshots.overlay.SizeSweepBench DIR containers
 * minFiles maxFiles rounds}
 */
public final class SizeSweepBench {
  private SizeSweepBench() {}

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args[0]);
    int containers = Integer.parseInt(args[1]);
    int minFiles = Integer.parseInt(args[2]);
    int maxFiles = Integer.parseInt(args[3]);
    int rounds = Integer.parseInt(args[4]);
    try (OverlaySnapshotter sn = OverlaySnapshotter.open(dir.resolve("root"))) {
      List<String> keys = new ArrayList<>();
      List<Path> uppers = new ArrayList<>();
      long files = 0;
      long start = System.nanoTime();
      for (int i = 0; i < containers; i++) {
        double f = containers == 1 ? 0 : (double) i / (containers - 1);
        int n = (int) Math.round(minFiles * Math.pow((double) maxFiles / minFiles, f));
        String key = "k8s.io/" + (i + 1) + "/container-" + i;
        sn.prepare(key, "", java.util.Map.of());
        Path upper = sn.directoryOf(key).resolve("fs");
        write(upper, n, new Random(i));
        keys.add(key);
        uppers.add(upper);
        files += n;
      }
      Posix.get().syncfs(dir);
      System.out.printf(Locale.ROOT, "built %d containers, %d files (%d to %d each) in %.1f s; sizes by %s%n", containers,
          files, minFiles, maxFiles, (System.nanoTime() - start) / 1e9,
          sn.measuresByProjectQuota() ? "project quota" : "walk (no project quotas here)");
      Files.write(dir.resolve("uppers.txt"), uppers.stream().map(Path::toString).toList());

      Usage[] byUsage = new Usage[containers];
      Usage[] byWalk = new Usage[containers];
      double[][] cpu = new double[2][rounds];
      double[][] wall = new double[2][rounds];
      for (int r = 0; r < rounds; r++) {
        for (int mode = 0; mode < 2; mode++) {
          long c0 = cpuNanos();
          long t0 = System.nanoTime();
          for (int i = 0; i < containers; i++) {
            if (mode == 0) {
              byUsage[i] = sn.usage(keys.get(i));
            } else {
              DiskUsage du = DiskUsage.of(uppers.get(i));
              byWalk[i] = new Usage(du.inodes(), du.size());
            }
          }
          wall[mode][r] = (System.nanoTime() - t0) / 1e9;
          cpu[mode][r] = (cpuNanos() - c0) / 1e9;
        }
        for (int i = 0; i < containers; i++) {
          if (!byUsage[i].equals(byWalk[i])) {
            throw new IllegalStateException(keys.get(i) + ": usage " + byUsage[i] + " but the walk says " + byWalk[i]);
          }
        }
      }
      String[] names = {sn.measuresByProjectQuota() ? "usage (quotactl)" : "usage (walk)", "walk (DiskUsage)"};
      for (int mode = 0; mode < 2; mode++) {
        System.out.printf(Locale.ROOT, "%-18s CPU s per sweep: median %.3f (%s); wall s: median %.3f%n", names[mode],
            median(cpu[mode]), fmt(cpu[mode]), median(wall[mode]));
      }
      System.out.println("usage equals the walk for every container in every round");
    }
  }

  private static void write(Path upper, int n, Random random) throws IOException {
    byte[] buf = new byte[4096];
    random.nextBytes(buf);
    Path d = null;
    for (int j = 0; j < n; j++) {
      if (j % 100 == 0) {
        d = Files.createDirectory(upper.resolve("d" + j / 100));
      }
      Files.write(d.resolve("f" + j), Arrays.copyOf(buf, random.nextInt(4097)), StandardOpenOption.CREATE_NEW,
          StandardOpenOption.WRITE);
    }
  }

  private static long cpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
  }

  private static double median(double[] xs) {
    double[] s = xs.clone();
    Arrays.sort(s);
    return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  }

  private static String fmt(double[] xs) {
    StringBuilder b = new StringBuilder();
    for (double x : xs) {
      b.append(b.length() == 0 ? "" : " ").append(String.format(Locale.ROOT, "%.3f", x));
    }
    return b.toString();
  }
}
