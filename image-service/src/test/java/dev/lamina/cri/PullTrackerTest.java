package dev.lamina.cri;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.api.v1.LayerProgress.State;
import dev.lamina.api.v1.LayerProgress;
import dev.lamina.api.v1.PullProgress;
import dev.lamina.digest.Digest;
import dev.lamina.oci.Descriptor;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class PullTrackerTest {
  static final Digest MANIFEST = digest("manifest");
  static final Digest BASE = digest("base");
  static final Digest MIDDLE = digest("middle");
  static final Digest TOP = digest("top");
  static final List<Descriptor> LAYERS = List.of(layer(BASE, 1000), layer(MIDDLE, 2000), layer(TOP, 300));

  static Digest digest(String s) {
    return Digest.sha256Of(s.getBytes(StandardCharsets.UTF_8));
  }

  static Descriptor layer(Digest d, long size) {
    return Descriptor.of("application/vnd.oci.image.layer.v1.tar+gzip", d, size);
  }

  static List<State> states(PullProgress p) {
    return p.getLayersList().stream().map(LayerProgress::getState).toList();
  }

  @Test
  void beforeResolutionTheMessageNamesOnlyTheReference() {
    PullTracker t = new PullTracker("busybox", 100);
    PullProgress p = t.snapshotIfChanged(350);
    assertThat(p.getReference()).isEqualTo("busybox");
    assertThat(p.getManifestDigest()).isEmpty();
    assertThat(p.getLayersList()).isEmpty();
    assertThat(p.getElapsedNanos()).isEqualTo(250);
    assertThat(t.snapshotIfChanged(400)).as("nothing changed").isNull();
  }

  @Test
  void layersGoFromWaitingThroughDownloadingAndUnpackingToDone() {
    PullTracker t = new PullTracker("app:v1", 0);
    t.resolved("docker.io/library/app:v1", MANIFEST, LAYERS, 1);
    PullProgress p = t.snapshotIfChanged(1);
    assertThat(p.getReference()).isEqualTo("docker.io/library/app:v1");
    assertThat(p.getManifestDigest()).isEqualTo(MANIFEST.toString());
    assertThat(states(p)).containsExactly(State.REUSED, State.WAITING, State.WAITING);
    assertThat(p.getLayers(1).getSize()).isEqualTo(2000);

    t.layerProgress(MIDDLE, 500, 2000);
    p = t.snapshotIfChanged(2);
    assertThat(states(p)).containsExactly(State.REUSED, State.DOWNLOADING, State.WAITING);
    assertThat(p.getLayers(1).getDownloaded()).isEqualTo(500);

    t.layerProgress(MIDDLE, 400, 2000); // late, out of order: never goes back
    t.layerProgress(TOP, 300, 300);
    p = t.snapshotIfChanged(3);
    assertThat(p.getLayers(1).getDownloaded()).isEqualTo(500);
    assertThat(states(p)).containsExactly(State.REUSED, State.DOWNLOADING, State.UNPACKING);

    t.layerDone(TOP, false);
    t.layerProgress(MIDDLE, 2000, 2000);
    t.layerDone(MIDDLE, false);
    p = t.snapshotIfChanged(4);
    assertThat(states(p)).containsExactly(State.REUSED, State.DONE, State.DONE);
    assertThat(p.getLayersList()).extracting(LayerProgress::getDownloaded).containsExactly(0L, 2000L, 300L);

    PullProgress last = t.last("sha256:" + "ab".repeat(32), false, 10);
    assertThat(last.getImageId()).isEqualTo("sha256:" + "ab".repeat(32));
    assertThat(last.getAlreadyPresent()).isFalse();
    assertThat(last.getElapsedNanos()).isEqualTo(10);
  }

  @Test
  void aLayerAnotherPullCommittedMeanwhileIsReused() {
    PullTracker t = new PullTracker("app:v1", 0);
    t.resolved("docker.io/library/app:v1", MANIFEST, LAYERS, 0);
    t.layerSkipped(BASE, 1000);
    t.layerDone(MIDDLE, true);
    assertThat(states(t.snapshotIfChanged(1))).containsExactly(State.REUSED, State.REUSED, State.WAITING);
  }

  @Test
  void theLastMessageHasEveryLayerFinishedEvenWhenEventsWereMissed() {
    PullTracker t = new PullTracker("app:v1", 0);
    t.resolved("docker.io/library/app:v1", MANIFEST, LAYERS, 1);
    t.layerProgress(MIDDLE, 2000, 2000);
    PullProgress last = t.last("sha256:" + "cd".repeat(32), true, 5);
    assertThat(states(last)).containsExactly(State.REUSED, State.DONE, State.DONE);
    assertThat(last.getAlreadyPresent()).isTrue();
  }

  @Test
  void aSecondResolutionOfAJoinedPullIsIgnored() {
    PullTracker t = new PullTracker("app:v1", 0);
    t.resolved("docker.io/library/app:v1", MANIFEST, LAYERS, 0);
    t.layerProgress(BASE, 10, 1000);
    t.resolved("docker.io/library/app:v1", MANIFEST, LAYERS, 0);
    PullProgress p = t.snapshotIfChanged(1);
    assertThat(p.getLayersCount()).isEqualTo(3);
    assertThat(p.getLayers(0).getDownloaded()).isEqualTo(10);
  }

  @Test
  void aManifestNamingOneBlobTwiceTracksBoth() {
    PullTracker t = new PullTracker("app:v1", 0);
    t.resolved("docker.io/library/app:v1", MANIFEST, List.of(layer(BASE, 1000), layer(BASE, 1000)), 0);
    t.layerProgress(BASE, 1000, 1000);
    assertThat(states(t.snapshotIfChanged(1))).containsExactly(State.UNPACKING, State.UNPACKING);
  }
}
