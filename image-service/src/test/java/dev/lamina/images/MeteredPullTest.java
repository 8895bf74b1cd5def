package dev.lamina.images;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.lamina.metrics.Telemetry;
import dev.lamina.remotes.auth.Credentials;
import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.copying.CopyingSnapshotter;
import io.micrometer.core.instrument.MeterRegistry;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Pulls through a real manager and a canned registry, counted by the metered image manager. */
class MeteredPullTest extends ImageManagerTestBase {
  @Override
  Snapshotter openSnapshotter(Path root) throws IOException {
    return CopyingSnapshotter.open(root);
  }

  @Override
  dev.lamina.fstest.TreeSnapshot rootfs(ImageRecord image) {
    throw new UnsupportedOperationException();
  }

  @Test
  void pullsAreCountedByOutcomeWithBytesDownloadedAndSkipped() throws Exception {
    List<Images.Layer> layers = ImageManagerConformanceTest.threeLayers();
    Images.push(registry, "app", "v1", Images.image(layers));
    Images.Layer extra = Images.layer().dir("extra", 0755).file("extra/f", "more").build();
    Images.push(registry, "app", "v2", Images.image(List.of(layers.get(0), layers.get(1), extra)));

    try (Telemetry telemetry = Telemetry.open(Telemetry.Options.defaults(), snapshotter, content)) {
      ImageManager images = telemetry.meter(manager);
      MeterRegistry r = telemetry.registry();
      images.pull(ref("app:v1"), Credentials.anonymous(), null);
      long all = layers.stream().mapToLong(l -> l.blob().length).sum();
      assertThat(r.get("lamina.pull.downloaded").counter().count()).isEqualTo(all);
      assertThat(r.get("lamina.pull.layers").tag("source", "fetched").counter().count()).isEqualTo(3);
      assertThat(r.get("lamina.layer.unpack.duration").timer().count()).isEqualTo(3);

      images.pull(ref("app:v2"), Credentials.anonymous(), null);
      long shared = layers.get(0).blob().length + layers.get(1).blob().length;
      assertThat(r.get("lamina.pull.skipped").counter().count()).isEqualTo(shared);
      assertThat(r.get("lamina.pull.downloaded").counter().count()).isEqualTo(all + extra.blob().length);
      assertThat(r.get("lamina.pull.layers").tag("source", "reused").counter().count()).isEqualTo(2);
      assertThat(r.get("lamina.pull.layers").tag("source", "fetched").counter().count()).isEqualTo(4);

      assertThatThrownBy(() -> images.pull(ref("app:missing"), Credentials.anonymous(), null))
          .isInstanceOf(IOException.class);
      assertThat(r.get("lamina.pulls").tag("outcome", "success").counter().count()).isEqualTo(2);
      assertThat(r.get("lamina.pulls").tag("outcome", "not_found").counter().count()).isEqualTo(1);
      assertThat(r.get("lamina.pull.duration").timer().count()).isEqualTo(3);
      assertThat(r.get("lamina.pulls.in.progress").gauge().value()).isZero();
      assertThat(r.get("lamina.pull.throughput").summary().count()).isEqualTo(2);

      String text = telemetry.registry().scrape();
      assertThat(text).contains("lamina_pull_downloaded_bytes_total " + (double) (all + extra.blob().length))
          .contains("lamina_pulls_total{outcome=\"not_found\"} 1.0")
          .contains("lamina_pull_duration_seconds_bucket{le=\"0.1\"}");
    }
  }
}
