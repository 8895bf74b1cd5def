package dev.lamina.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.api.v1.LayerProgress;
import dev.lamina.api.v1.LayerProgress.State;
import dev.lamina.api.v1.PullProgress;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class PullProgressViewTest {
  static final String ID = "sha256:" + "0f".repeat(32);
  static final long SECOND = 1_000_000_000L;

  static LayerProgress layer(char hex, long size, long downloaded, State state) {
    return LayerProgress.newBuilder().setDigest("sha256:" + String.valueOf(hex).repeat(64)).setSize(size)
        .setDownloaded(downloaded).setState(state).build();
  }

  static PullProgress progress(LayerProgress... layers) {
    return PullProgress.newBuilder().setReference("127.0.0.1:5000/app:v1").setManifestDigest("sha256:" + "9".repeat(64))
        .addAllLayers(List.of(layers)).build();
  }

  @Test
  void beforeResolutionItSaysItIsResolving() {
    List<String> lines = new PullProgressView().lines(PullProgress.newBuilder().setReference("busybox").build(), 0,
        Duration.ofMillis(1500));
    assertThat(lines).containsExactly("Resolving busybox  1.5s");
  }

  @Test
  void eachLayerShowsItsStateBytesAndRateAndTheLastLineTheWhole() {
    PullProgressView view = new PullProgressView();
    view.lines(progress(layer('a', 4 << 20, 0, State.REUSED), layer('b', 8 << 20, 1 << 20, State.DOWNLOADING),
        layer('c', 2048, 0, State.WAITING)), 0, Duration.ofSeconds(1));
    List<String> lines = view.lines(progress(layer('a', 4 << 20, 0, State.REUSED),
        layer('b', 8 << 20, 3 << 20, State.DOWNLOADING), layer('c', 2048, 2048, State.UNPACKING)), SECOND,
        Duration.ofSeconds(2));
    assertThat(lines).containsExactly(
        "  aaaaaaaaaaaa  reused       4.0 MiB",
        "  bbbbbbbbbbbb  downloading  3.0 MiB / 8.0 MiB  2.0 MiB/s",
        "  cccccccccccc  unpacking    2.0 KiB / 2.0 KiB",
        "Pulling 127.0.0.1:5000/app:v1  1/3 layers  3.0 MiB / 8.0 MiB  2.0 MiB/s  2.0s");
  }

  @Test
  void theRateFallsWhenTheDownloadStalls() {
    PullProgressView view = new PullProgressView();
    view.lines(progress(layer('b', 8 << 20, 0, State.DOWNLOADING)), 0, Duration.ZERO);
    String moving = view.lines(progress(layer('b', 8 << 20, 2 << 20, State.DOWNLOADING)), SECOND, Duration.ZERO).get(0);
    assertThat(moving).endsWith("2.0 MiB/s");
    String stalled = view.lines(progress(layer('b', 8 << 20, 2 << 20, State.DOWNLOADING)), 4 * SECOND, Duration.ZERO)
        .get(0);
    assertThat(stalled).endsWith(" 0 B/s");
  }

  @Test
  void aFreshPullIsNeverUpToDate() {
    PullProgress last = progress(layer('a', 100, 0, State.REUSED), layer('b', 3 << 20, 3 << 20, State.DONE))
        .toBuilder().setImageId(ID).setElapsedNanos(2_340_000_000L).build();
    assertThat(PullProgressView.summary(last))
        .isEqualTo("Pulled 127.0.0.1:5000/app:v1 in 2.3s: 1 layer fetched (3.0 MiB), 1 reused; image " + ID);
    // every layer shared with another image, but the reference is new here: still "Pulled"
    PullProgress allShared = progress(layer('a', 100, 0, State.REUSED)).toBuilder().setImageId(ID).build();
    assertThat(PullProgressView.summary(allShared)).startsWith("Pulled ").contains("0 layers fetched (0 B), 1 reused");
  }

  @Test
  void anImageAlreadyHereWithNothingFetchedIsUpToDate() {
    PullProgress last = progress(layer('a', 100, 0, State.REUSED)).toBuilder().setImageId(ID).setAlreadyPresent(true)
        .build();
    assertThat(PullProgressView.summary(last)).isEqualTo("Image is up to date for " + ID);
    PullProgress refetched = progress(layer('a', 100, 100, State.DONE)).toBuilder().setImageId(ID)
        .setAlreadyPresent(true).build();
    assertThat(PullProgressView.summary(refetched)).startsWith("Pulled ");
  }
}
