package dev.lamina.diff;

import dev.lamina.posix.Errno;
import dev.lamina.posix.Posix;
import dev.lamina.posix.PosixException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/** Test support: an overlay mount of one lower dir under {@code base}; close unmounts it. */
final class OverlayMount implements AutoCloseable {
  /** "No such device": the kernel has no overlay filesystem. */
  private static final int ENODEV = 19;

  final Path lower;
  final Path upper;
  final Path work;
  final Path merged;
  private boolean mounted;

  OverlayMount(Path base) throws IOException {
    this.lower = base.resolve("lower");
    this.upper = base.resolve("upper");
    this.work = base.resolve("work");
    this.merged = base.resolve("merged");
    for (Path dir : new Path[] {lower, upper, work, merged}) {
      Files.createDirectories(dir);
    }
  }

  /** Mounts without redirect_dir, metacopy or index, so the upper dir alone tells every change. */
  OverlayMount mount() throws IOException {
    String options = "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
        + ",redirect_dir=off,metacopy=off,index=off";
    try {
      Posix.get().mount("overlay", merged, "overlay", 0, options);
    } catch (PosixException e) {
      // No overlayfs here (ENODEV), not allowed (EPERM), or a temp dir overlayfs cannot use as
      // upper (EINVAL, e.g. itself on overlayfs): the machine's limit, not a comparer bug.
      Assumptions.assumeTrue(e.errno() != ENODEV && e.errno() != Errno.EINVAL && !e.isPermissionDenied(),
          "overlay mount not possible here: " + e.getMessage());
      throw e;
    }
    mounted = true;
    return this;
  }

  void unmount() throws IOException {
    if (mounted) {
      Posix.get().unmount(merged, 0);
      mounted = false;
    }
  }

  @Override
  public void close() throws IOException {
    unmount();
  }
}
