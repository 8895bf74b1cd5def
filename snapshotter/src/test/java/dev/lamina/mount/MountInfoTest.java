package dev.lamina.mount;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class MountInfoTest {
  @Test
  void parsesLinesWithOptionalFieldsAndEscapes() {
    String text = "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
        + "46 22 0:39 / /tmp/with\\040space rw,relatime - overlay overlay rw,lowerdir=/a:/b,upperdir=/u,workdir=/w\n"
        + "47 22 0:40 /sub /mnt/back\\134slash rw master:3 shared:9 - tmpfs tmpfs rw\n";
    List<MountInfo.Entry> entries = MountInfo.parse(text);
    assertThat(entries).hasSize(3);
    assertThat(entries.get(0).mountPoint()).isEqualTo(Path.of("/"));
    assertThat(entries.get(0).fsType()).isEqualTo("ext4");
    assertThat(entries.get(1).mountPoint()).isEqualTo(Path.of("/tmp/with space"));
    assertThat(entries.get(1).superOptions()).contains("lowerdir=/a:/b");
    assertThat(entries.get(2).mountPoint()).isEqualTo(Path.of("/mnt/back\\slash"));
    assertThat(entries.get(2).root()).isEqualTo("/sub");
    assertThat(entries.get(2).fsType()).isEqualTo("tmpfs");
  }

  @Test
  void readsThisProcess() throws Exception {
    assertThat(MountInfo.read()).anyMatch(e -> e.mountPoint().equals(Path.of("/")));
    assertThat(MountInfo.isMountPoint(Path.of("/"))).isTrue();
  }
}
