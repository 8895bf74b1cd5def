package dev.lamina.mount;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Mounts on a fresh temporary directory for the length of one call (containerd's
 * {@code mount.WithTempMount}). The directory is removed only after the unmount succeeded and
 * {@code /proc/self/mountinfo} shows nothing mounted there, and only with rmdir: a directory
 * that is still a mount point is never deleted recursively, which would delete the mounted data.
 */
public final class TempMounts {
  /** What runs while the mounts are in place. */
  @FunctionalInterface
  public interface MountedFunction<T> {
    T apply(Path root) throws IOException;
  }

  private TempMounts() {}

  /** As {@link #withTempMount(Path, List, MountedFunction)} under {@code java.io.tmpdir}. */
  public static <T> T withTempMount(List<Mount> mounts, MountedFunction<T> fn) throws IOException {
    return withTempMount(Path.of(System.getProperty("java.io.tmpdir")), mounts, fn);
  }

  /**
   * Mounts {@code mounts} on a new directory under {@code parent}, runs {@code fn} with it, and
   * always unmounts. Errors of {@code fn} win; unmount errors are added to them as suppressed.
   */
  public static <T> T withTempMount(Path parent, List<Mount> mounts, MountedFunction<T> fn) throws IOException {
    Path root = Files.createTempDirectory(parent, "lamina-mount-").toRealPath();
    Throwable failure = null;
    try {
      Mounter.mountAll(mounts, root);
      return fn.apply(root);
    } catch (IOException | RuntimeException | Error e) {
      failure = e;
      throw e;
    } finally {
      release(root, failure);
    }
  }

  private static void release(Path root, Throwable failure) throws IOException {
    IOException problem = null;
    try {
      Mounter.unmountAll(root);
    } catch (IOException e) {
      problem = e;
    }
    if (problem == null) {
      List<Path> left = MountInfo.mountsAtOrUnder(root);
      if (left.isEmpty()) {
        try {
          Files.delete(root); // rmdir: fails on a non-empty directory instead of emptying it
        } catch (IOException e) {
          problem = new IOException("unmounted but could not remove temp mount dir " + root, e);
        }
      } else {
        problem = new IOException("still mounted, not removing " + root + ": " + left);
      }
    } else {
      problem = new IOException("failed to unmount " + root + "; leaving the directory in place", problem);
    }
    if (problem != null) {
      if (failure != null) {
        failure.addSuppressed(problem);
      } else {
        throw problem;
      }
    }
  }
}
