package dev.lamina.mount;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class LowerdirsTest {
  @Test
  void compactsToTheCommonParentAtADirectoryBoundary() {
    List<String> options = List.of("workdir=/r/snapshots/13/work", "upperdir=/r/snapshots/13/fs",
        "lowerdir=/r/snapshots/12/fs:/r/snapshots/1/fs:/r/snapshots/10/fs", "index=off");
    Lowerdirs c = Lowerdirs.compact(options);
    assertThat(c.chdir()).isEqualTo("/r/snapshots/");
    assertThat(c.options()).containsExactly("workdir=/r/snapshots/13/work", "upperdir=/r/snapshots/13/fs", "index=off",
        "lowerdir=12/fs:1/fs:10/fs");
  }

  @Test
  void leavesSingleOrUnrelatedDirsAlone() {
    assertThat(Lowerdirs.compact(List.of("lowerdir=/a/b")).chdir()).isNull();
    assertThat(Lowerdirs.compact(List.of("lowerdir=/a:/b")).chdir()).isNull();
    assertThat(Lowerdirs.compact(List.of("upperdir=/x")).chdir()).isNull();
  }

  @Test
  void optionParsingSplitsFlagsFromData() {
    MountOptions o = MountOptions.parse(List.of("ro", "rbind", "nosuid", "lowerdir=/a", "rw", "ro"));
    assertThat(o.has(MountOptions.MS_BIND | MountOptions.MS_REC | MountOptions.MS_RDONLY | MountOptions.MS_NOSUID)).isTrue();
    assertThat(o.data()).containsExactly("lowerdir=/a");
    assertThat(MountOptions.parse(List.of("ro", "rw")).has(MountOptions.MS_RDONLY)).isFalse();
  }
}
