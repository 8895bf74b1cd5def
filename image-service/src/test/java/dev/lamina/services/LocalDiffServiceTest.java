package dev.lamina.services;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.lamina.diff.ApplyConfig;
import dev.lamina.diff.DiffConfig;
import dev.lamina.diff.Differ;
import dev.lamina.digest.Digest;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.mount.Mount;
import dev.lamina.oci.Descriptor;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The ordered differs: the next one is asked only when the one before says NOT_IMPLEMENTED. */
class LocalDiffServiceTest {
  static final Descriptor LAYER = Descriptor.of("application/x-test", Digest.sha256Of(new byte[] {1}), 1);
  final List<String> asked = new ArrayList<>();

  Differ differ(String name, ErrorKind failure) {
    return new Differ() {
      @Override
      public String name() {
        return name;
      }

      @Override
      public Descriptor apply(Descriptor layer, List<Mount> mounts, ApplyConfig config) throws IOException {
        return answer();
      }

      @Override
      public Descriptor compare(List<Mount> lower, List<Mount> upper, DiffConfig config) throws IOException {
        return answer();
      }

      private Descriptor answer() throws LaminaException {
        asked.add(name);
        if (failure != null) {
          throw new LaminaException(failure, name + " says " + failure);
        }
        return Descriptor.of(name, LAYER.digest(), 1);
      }
    };
  }

  @Test
  void nextDifferIsAskedOnlyOnNotImplemented() throws IOException {
    LocalDiffService s = new LocalDiffService(List.of(
        differ("a", ErrorKind.NOT_IMPLEMENTED), differ("b", null), differ("c", null)));
    assertThat(s.apply(LAYER, List.of(), ApplyConfig.defaults()).mediaType()).isEqualTo("b");
    assertThat(s.diff(List.of(), List.of(), DiffConfig.defaults()).mediaType()).isEqualTo("b");
    assertThat(asked).containsExactly("a", "b", "a", "b");
  }

  @Test
  void otherErrorsStopTheSearch() {
    LocalDiffService s = new LocalDiffService(List.of(differ("a", ErrorKind.DATA_LOSS), differ("b", null)));
    assertThatThrownBy(() -> s.apply(LAYER, List.of(), ApplyConfig.defaults()))
        .isInstanceOfSatisfying(LaminaException.class, e -> assertThat(e.kind()).isEqualTo(ErrorKind.DATA_LOSS));
    assertThat(asked).containsExactly("a");
  }

  @Test
  void allNotImplementedIsNotImplemented() {
    LocalDiffService s = new LocalDiffService(List.of(differ("a", ErrorKind.NOT_IMPLEMENTED),
        differ("b", ErrorKind.NOT_IMPLEMENTED)));
    assertThatThrownBy(() -> s.diff(List.of(), List.of(), DiffConfig.defaults()))
        .isInstanceOfSatisfying(LaminaException.class, e -> {
          assertThat(e.kind()).isEqualTo(ErrorKind.NOT_IMPLEMENTED);
          assertThat(e.getMessage()).isEqualTo("b says NOT_IMPLEMENTED");
        });
    assertThatThrownBy(() -> new LocalDiffService(List.of()).diff(List.of(), List.of(), DiffConfig.defaults()))
        .isInstanceOfSatisfying(LaminaException.class, e -> assertThat(e.kind()).isEqualTo(ErrorKind.NOT_IMPLEMENTED));
  }
}
