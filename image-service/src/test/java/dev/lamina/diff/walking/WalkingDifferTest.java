package dev.lamina.diff.walking;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The walking differ's own rules; its behaviour through the Diff API is DiffServiceTest's. */
class WalkingDifferTest {
  @Test
  void readOnlyMountsOfAnOverlay() {
    var ro = WalkingDiffer.readOnlyMounts(List.of(
        dev.lamina.mount.Mount.of("overlay", "overlay", List.of("index=off", "lowerdir=/l1:/l2", "upperdir=/u", "workdir=/w")),
        dev.lamina.mount.Mount.of("overlay", "overlay", List.of("upperdir=/u", "workdir=/w")),
        dev.lamina.mount.Mount.of("bind", "/b", List.of("rw", "rbind"))));
    assertThat(ro.get(0).options()).containsExactly("index=off", "lowerdir=/u:/l1:/l2", "ro");
    assertThat(ro.get(1)).isEqualTo(dev.lamina.mount.Mount.of("bind", "/u", List.of("ro", "rbind")));
    assertThat(ro.get(2).options()).containsExactly("rbind", "ro");
  }}
