package dev.lamina.metrics;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lamina.content.LocalContentStore;
import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.copying.CopyingSnapshotter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The HTTP endpoint: content negotiation, probes, and an exposition that promtool accepts. */
class MetricsEndpointTest {
  @TempDir Path tmp;
  Snapshotter snapshotter;
  LocalContentStore content;
  Telemetry telemetry;
  final HttpClient http = HttpClient.newHttpClient();

  @BeforeEach
  void open() throws Exception {
    snapshotter = CopyingSnapshotter.open(tmp.resolve("root"));
    content = LocalContentStore.open(tmp.resolve("root/content"));
    // a container: containerd's key of its rootfs snapshot, with a file in it
    snapshotter.prepare("k8s.io/7/c0ffee", "", Map.of());
    telemetry = Telemetry.open(new Telemetry.Options("127.0.0.1:0", Duration.ofHours(1), "", null), snapshotter,
        content);
  }

  @AfterEach
  void close() throws Exception {
    telemetry.close();
    content.close();
    snapshotter.close();
  }

  HttpResponse<String> get(String path, String accept) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + telemetry.metricsPort() + path))
        .timeout(Duration.ofSeconds(10));
    if (accept != null) {
      b.header("Accept", accept);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void servesPrometheusTextOrOpenMetricsAsAskedAndProbes() throws Exception {
    telemetry.start();
    telemetry.sweep();

    HttpResponse<String> text = get("/metrics", null);
    assertThat(text.statusCode()).isEqualTo(200);
    assertThat(text.headers().firstValue("Content-Type")).hasValue("text/plain; version=0.0.4; charset=utf-8");
    assertThat(text.body())
        .contains("# TYPE lamina_pull_duration_seconds histogram")
        .contains("lamina_snapshots{kind=\"active\"} 1.0")
        .containsPattern("lamina_container_rw_bytes\\{container=\"\",container_id=\"c0ffee\",image=\"\",namespace=\"\","
            + "pod=\"\"} [0-9.E]+")
        .contains("jvm_memory_used_bytes")
        .doesNotContain("lamina_container_rw_bytes{container_id=\"7\"");

    HttpResponse<String> om = get("/metrics",
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
            + "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"); // what Prometheus 2 sends
    assertThat(om.headers().firstValue("Content-Type")).hasValue(MetricsEndpoint.OPENMETRICS);
    assertThat(om.body()).endsWith("# EOF\n").contains("lamina_pulls_in_progress");

    assertThat(get("/healthz", null).statusCode()).isEqualTo(200);
    assertThat(get("/readyz", null).statusCode()).isEqualTo(200);
    telemetry.stopping();
    assertThat(get("/readyz", null).statusCode()).isEqualTo(503);

    promtoolAccepts(text.body());
  }

  /** {@code promtool check metrics}, as Prometheus' own linter, on a real exposition. */
  static void promtoolAccepts(String exposition) throws Exception {
    Path promtool = Path.of("/usr/bin/promtool");
    assumeTrue(Files.isExecutable(promtool), "promtool is missing (Debian package prometheus)");
    Process p = new ProcessBuilder(promtool.toString(), "check", "metrics").redirectErrorStream(true).start();
    p.getOutputStream().write(exposition.getBytes(StandardCharsets.UTF_8));
    p.getOutputStream().close();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(out).isZero();
  }

  @Test
  void addressesParseOrNameWhatIsWrong() {
    assertThat(MetricsEndpoint.parseAddress("127.0.0.1:9464").getPort()).isEqualTo(9464);
    assertThat(MetricsEndpoint.parseAddress(":9464").getAddress().isAnyLocalAddress()).isTrue();
    assertThat(MetricsEndpoint.parseAddress("[::1]:1").getAddress().isLoopbackAddress()).isTrue();
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> MetricsEndpoint.parseAddress("localhost"))
        .hasMessageContaining("has no port");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> MetricsEndpoint.parseAddress("h:99999"))
        .hasMessageContaining("out of range");
  }
}
