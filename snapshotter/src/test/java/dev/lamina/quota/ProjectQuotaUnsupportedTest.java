package dev.lamina.quota;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.fstest.Root;
import dev.lamina.posix.Posix;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Filesystems without project quota accounting: the probe says so, and why. */
class ProjectQuotaUnsupportedTest {
  @Test
  void aPlainExt4HasNone(@TempDir Path other) throws Exception {
    try (LoopFilesystem plain = LoopFilesystem.plainExt4(other)) {
      ProjectQuota.Probe probe = ProjectQuota.probe(plain.root(), plain.root().resolve("quota-device"));
      assertThat(probe.quota()).isEmpty();
      assertThat(probe.description()).contains("cannot set a project ID").contains(plain.root().toString());
      try (var s = Files.list(plain.root())) {
        assertThat(s.map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith("quota-probe"));
      }
    }
  }

  @Test
  void projectIdsWithoutAccountingAreNotEnough(@TempDir Path other) throws Exception {
    try (LoopFilesystem ids = LoopFilesystem.ext4(other, "project", null)) {
      ProjectQuota.Probe probe = ProjectQuota.probe(ids.root(), ids.root().resolve("quota-device"));
      assertThat(probe.quota()).isEmpty();
      assertThat(probe.description()).contains("project quota accounting is off");
    }
  }

  @Test
  void tmpfsHasNone(@TempDir Path other) throws Exception {
    Root.assumeRoot("mounting a tmpfs");
    Path dir = Files.createDirectory(other.resolve("tmpfs"));
    Posix.get().mount("tmpfs", dir, "tmpfs", 0, "size=16m");
    try {
      ProjectQuota.Probe probe = ProjectQuota.probe(dir, dir.resolve("quota-device"));
      assertThat(probe.quota()).isEmpty();
      assertThat(probe.description()).contains("not on a block device");
    } finally {
      Posix.get().unmount(dir, 0);
    }
  }
}
