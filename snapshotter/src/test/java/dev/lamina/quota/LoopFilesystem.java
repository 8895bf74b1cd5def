package dev.lamina.quota;

import dev.lamina.fstest.Root;
import dev.lamina.mount.MountInfo;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * A small ext4 on a loop device, made and mounted by a test in its temp dir and unmounted by
 * {@link #close} (lazily, so a file still open does not keep it). Skips the test (an assumption)
 * when it cannot be had: not root, no loop devices, or a kernel that refuses the features (one
 * built without {@code CONFIG_QFMT_V2} will not mount an ext4 that has the {@code quota} feature).
 */
public final class LoopFilesystem implements AutoCloseable {
  private final Path mountPoint;

  private LoopFilesystem(Path mountPoint) {
    this.mountPoint = mountPoint;
  }

  /** An ext4 with project quotas accounted: {@code mkfs.ext4 -O quota,project}, {@code mount -o prjquota}. */
  public static LoopFilesystem projectQuotaExt4(Path dir) throws IOException, InterruptedException {
    return ext4(dir, "quota,project", "prjquota");
  }

  /** A plain ext4 (no project IDs, no quotas). */
  public static LoopFilesystem plainExt4(Path dir) throws IOException, InterruptedException {
    return ext4(dir, null, null);
  }

  /**
   * {@code truncate -s 256M img; mkfs.ext4 -q [-O features] img; mount -o loop[,options] img mnt}
   * under {@code dir}.
   */
  public static LoopFilesystem ext4(Path dir, String features, String options) throws IOException, InterruptedException {
    Root.assumeRoot("loop mounts");
    Assumptions.assumeTrue(Files.exists(Path.of("/dev/loop-control")) || Files.exists(Path.of("/dev/loop0")),
        "needs loop devices (/dev/loop-control)");
    Path img = dir.resolve("ext4.img");
    Path mnt = Files.createDirectories(dir.resolve("mnt"));
    run(List.of("truncate", "-s", "256M", img.toString()), true);
    List<String> mkfs = new ArrayList<>(List.of("mkfs.ext4", "-q", "-F"));
    if (features != null) {
      mkfs.addAll(List.of("-O", features));
    }
    mkfs.add(img.toString());
    run(mkfs, true);
    String mountOptions = options == null ? "loop" : "loop," + options;
    String out = run(List.of("mount", "-o", mountOptions, img.toString(), mnt.toString()), false);
    Assumptions.assumeTrue(MountInfo.isMountPoint(mnt), () -> "the kernel refuses to mount an ext4 made with"
        + (features == null ? " no options" : " -O " + features) + " with -o " + mountOptions + ": "
        + dmesgTail() + "; mount said: " + out.strip().replace('\n', ' ')
        + " (scripts/uml-run runs tests under a kernel that has quota support)");
    return new LoopFilesystem(mnt);
  }

  public Path root() {
    return mountPoint;
  }

  @Override
  public void close() throws IOException, InterruptedException {
    if (MountInfo.isMountPoint(mountPoint)) {
      run(List.of("umount", "-l", mountPoint.toString()), true);
    }
  }

  private static String run(List<String> cmd, boolean mustSucceed) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(60, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IOException(String.join(" ", cmd) + " did not finish");
    }
    if (mustSucceed && p.exitValue() != 0) {
      throw new IOException(String.join(" ", cmd) + " failed: " + out);
    }
    return out;
  }

  private static String dmesgTail() {
    try {
      String[] lines = run(List.of("dmesg"), false).strip().split("\n");
      for (int i = lines.length - 1; i >= 0; i--) {
        if (lines[i].contains("EXT4-fs") || lines[i].contains("loop")) {
          return "dmesg: " + lines[i].replaceFirst("^\\[[^]]*\\] *", "");
        }
      }
      return "nothing in dmesg";
    } catch (IOException | InterruptedException e) {
      return "no dmesg";
    }
  }
}
