package dev.lamina.sizes;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Which containers cannot be writing, from task starts, exits and a listing of the tasks. */
class QuietContainersTest {
  final QuietContainers quiet = new QuietContainers();
  final ContainerKey web = new ContainerKey("k8s.io", "web");
  final ContainerKey job = new ContainerKey("k8s.io", "job");

  @Test
  void aContainerIsQuietForMeasurementsBegunAfterItsExitUntilATaskStarts() {
    long before = System.nanoTime();
    quiet.exited(job);
    long after = System.nanoTime();
    assertThat(quiet.quietSince(job, before)).as("measured while it still ran").isFalse();
    assertThat(quiet.quietSince(job, after)).isTrue();
    assertThat(quiet.quietSince(web, after)).as("no exit heard").isFalse();

    quiet.started(job);
    assertThat(quiet.quietSince(job, System.nanoTime())).isFalse();
  }

  @Test
  void aListingMakesQuietTheContainersWithoutATaskUntilOneStarts() {
    long before = System.nanoTime();
    quiet.running("k8s.io", Set.of("web"));
    long after = System.nanoTime();
    assertThat(quiet.quietSince(job, after)).as("no task when listed").isTrue();
    assertThat(quiet.quietSince(job, before)).as("measured before the listing").isFalse();
    assertThat(quiet.quietSince(web, after)).as("its task runs").isFalse();
    assertThat(quiet.quietSince(new ContainerKey("default", "job"), after)).as("another namespace").isFalse();

    quiet.started(job); // heard after the listing: the listing no longer speaks for it
    assertThat(quiet.quietSince(job, System.nanoTime())).isFalse();
    quiet.exited(job);
    assertThat(quiet.quietSince(job, System.nanoTime())).isTrue();
  }

  @Test
  void aStartHeardBeforeTheListingArrivedStillCounts() {
    quiet.started(job); // the stream is open, the listing in flight and made before the start
    quiet.running("k8s.io", Set.of());
    assertThat(quiet.quietSince(job, System.nanoTime())).isFalse();
  }

  @Test
  void aStreamOpenedAgainForgetsEverything() {
    quiet.exited(job);
    quiet.running("k8s.io", Set.of());
    quiet.listening();
    long now = System.nanoTime();
    assertThat(quiet.quietSince(job, now)).isFalse();
    assertThat(quiet.quietSince(web, now)).isFalse();
  }

  @Test
  void containersWhoseSnapshotsAreGoneAreForgotten() {
    quiet.exited(job);
    quiet.exited(web);
    quiet.retain(List.of(web));
    long now = System.nanoTime();
    assertThat(quiet.quietSince(web, now)).isTrue();
    assertThat(quiet.quietSince(job, now)).isFalse();
  }
}
