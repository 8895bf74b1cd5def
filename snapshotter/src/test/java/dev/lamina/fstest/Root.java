package dev.lamina.fstest;

import dev.lamina.posix.Posix;
import dev.lamina.posix.PosixException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;

/** JUnit assumptions for tests that need privileges or filesystem features CI may lack. */
public final class Root {
  private Root() {}

  public static boolean isRoot() {
    return Posix.get().isRoot();
  }

  /** Skips the test unless running as root (chown to other ids, device nodes, trusted.* xattrs). */
  public static void assumeRoot() {
    assumeRoot("chown to other ids, device nodes and trusted.* xattrs");
  }

  public static void assumeRoot(String why) {
    Assumptions.assumeTrue(isRoot(), () -> "needs root (euid 0) for " + why + "; running as euid " + Posix.get().geteuid());
  }

  /** Skips the test unless the filesystem holding {@code dir} accepts user.* xattrs. */
  public static void assumeUserXattrs(Path dir) throws IOException {
    Assumptions.assumeTrue(supportsUserXattrs(dir), () -> "needs user.* xattr support on the filesystem of " + dir);
  }

  /** Probes with a scratch file in {@code dir}: tmpfs before Linux 6.6 and some overlay setups refuse. */
  public static boolean supportsUserXattrs(Path dir) throws IOException {
    Path probe = Files.createTempFile(dir, ".xattr-probe", "");
    try {
      Posix.get().setxattr(probe, "user.lamina.probe", new byte[] {1});
      return true;
    } catch (PosixException e) {
      if (e.isNotSupported() || e.isPermissionDenied()) {
        return false;
      }
      throw e;
    } finally {
      Files.delete(probe);
    }
  }
}
