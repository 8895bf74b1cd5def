package dev.lamina.quota;

import dev.lamina.posix.Posix;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * An ext4 with project quotas on a loop device for one test class ({@code @RegisterExtension
 * static}): made and mounted before its tests, unmounted and deleted after them. The class is
 * skipped, with the reason, where the machine cannot (not root, no loop devices, a kernel without
 * quota support), or where a further requirement on the filesystem does not hold.
 */
public final class ProjectQuotaFilesystem implements BeforeAllCallback, AfterAllCallback {
  /** A check on a directory of the mounted filesystem. */
  public interface Requirement {
    boolean holds(Path dir) throws IOException;
  }

  private final String unmet;
  private final Requirement requirement;
  private Path dir;
  private LoopFilesystem fs;

  public ProjectQuotaFilesystem() {
    this(null, null);
  }

  /** @param unmet the reason the class is skipped when {@code requirement} does not hold */
  public ProjectQuotaFilesystem(String unmet, Requirement requirement) {
    this.unmet = unmet;
    this.requirement = requirement;
  }

  @Override
  public void beforeAll(ExtensionContext context) throws Exception {
    dir = Files.createTempDirectory("lamina-quota-fs-");
    fs = LoopFilesystem.projectQuotaExt4(dir);
    if (requirement != null && !requirement.holds(fs.root().resolve("requirement-check"))) {
      afterAll(context);
      Assumptions.abort(unmet);
    }
  }

  @Override
  public void afterAll(ExtensionContext context) throws Exception {
    try {
      if (fs != null) {
        fs.close();
        fs = null;
      }
    } finally {
      if (dir != null) {
        try (Stream<Path> tree = Files.walk(dir)) {
          for (Path p : tree.sorted(Comparator.reverseOrder()).toList()) {
            Files.deleteIfExists(p);
          }
        }
        dir = null;
      }
    }
  }

  /** The mounted filesystem's top directory. */
  public Path root() {
    return fs.root();
  }

  /**
   * A snapshotter root at {@code name} on the filesystem whose snapshots directory has project ID
   * {@code base}, the base of its snapshots' IDs: roots sharing a filesystem need bases of their own.
   */
  public Path rootWithProjectBase(String name, long base) throws IOException {
    Path root = fs.root().resolve(name);
    Path snapshots = Files.createDirectories(root.resolve("snapshots"));
    Posix.get().fsSetXattr(snapshots, Posix.get().fsGetXattr(snapshots).withInheritedProject(base));
    return root;
  }
}
