package dev.lamina.snapshots.overlay;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.fstest.Root;
import dev.lamina.mount.TempMounts;
import dev.lamina.quota.LoopFilesystem;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The overlay snapshotter on an ext4 without project quotas walks upper dirs, with du's numbers. */
class OverlayWithoutProjectQuotaTest {
  @Test
  void withoutProjectQuotasTheWalkGivesTheSameNumbers(@TempDir Path plainDir) throws Exception {
    Root.assumeRoot("loop and overlay mounts");
    try (LoopFilesystem plain = LoopFilesystem.plainExt4(plainDir);
        OverlaySnapshotter sn = OverlaySnapshotter.open(plain.root().resolve("root"))) {
      assertThat(sn.measuresByProjectQuota()).isFalse();
      String image = ContainerLayers.imageLayer(sn);
      sn.prepare("container", image, ContainerLayers.LABELS);
      TempMounts.withTempMount(plain.root(), sn.mounts("container"), merged -> {
        ContainerLayers.writeLikeAContainer(merged);
        ContainerLayers.assertMatchesDu(sn, "container");
        return null;
      });
      ContainerLayers.assertMatchesDu(sn, "container");
    }
  }
}
