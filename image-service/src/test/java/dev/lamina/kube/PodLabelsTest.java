package dev.lamina.kube;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.content.LocalContentStore;
import dev.lamina.metrics.Telemetry;
import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.copying.CopyingSnapshotter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Container sizes labelled by pod through --node-name and --kubeconfig, on fabric8's mock API server. */
class PodLabelsTest {
  static final String WEB = "lamina_container_rw_bytes{container=\"nginx\",container_id=\"aaa111\","
      + "image=\"docker.io/library/nginx:1.27\",namespace=\"shop\",pod=\"web-1\"}";
  static final String BARE = "lamina_container_rw_bytes{container=\"\",container_id=\"aaa111\",image=\"\","
      + "namespace=\"\",pod=\"\"}";

  @TempDir Path tmp;
  MockApiServer api;
  Snapshotter snapshotter;
  LocalContentStore content;
  Telemetry telemetry;

  @BeforeEach
  void open() throws Exception {
    api = new MockApiServer();
    snapshotter = CopyingSnapshotter.open(tmp.resolve("root"));
    content = LocalContentStore.open(tmp.resolve("root/content"));
    Path dir = Path.of(snapshotter.prepare("k8s.io/3/aaa111", "", Map.of()).get(0).source());
    Files.write(dir.resolve("log"), new byte[50_000]);
    snapshotter.prepare("k8s.io/4/zzz999", "", Map.of());
    api.create(MockApiServer.pod("shop", "web-1", "node-a", "nginx", "aaa111"));
  }

  @AfterEach
  void close() throws Exception {
    if (telemetry != null) {
      telemetry.close();
    }
    content.close();
    snapshotter.close();
    api.close();
  }

  void start() throws Exception {
    telemetry = Telemetry.open(new Telemetry.Options("", Duration.ofHours(1), "node-a",
        api.kubeconfig(tmp.resolve("kubeconfig"))), snapshotter, content);
    telemetry.start();
    telemetry.sweep();
  }

  @Test
  void sizesCarryTheirPodsLabelsAndNoSeriesOutlivesItsPodOrSnapshot() throws Exception {
    start();
    // a delete between the informer's list and its watch would be missed by the mock server, which
    // does not replay events from a resource version; a real API server does
    String labelled = await(s -> s.contains(WEB) && telemetry.watchingPods());
    assertThat(labelled).as("a container of no known pod: container_id only")
        .contains("lamina_container_rw_bytes{container=\"\",container_id=\"zzz999\",image=\"\",namespace=\"\",pod=\"\"}")
        .doesNotContain(BARE);

    api.delete("shop", "web-1");
    assertThat(await(s -> !s.contains(WEB))).as("the pod went, its container's snapshot stays").contains(BARE);

    snapshotter.remove("k8s.io/3/aaa111");
    telemetry.sweep();
    assertThat(scrape()).doesNotContain("container_id=\"aaa111\"").contains("container_id=\"zzz999\"");
    assertThat(telemetry.containers()).hasSize(1);
  }

  @Test
  void anApiServerThatForbidsGivesSizesWithContainerIdOnly() throws Exception {
    api.gate.forbidden = true;
    start();
    assertThat(scrape()).contains(BARE).doesNotContain("pod=\"web-1\"");
    api.gate.forbidden = false;
    await(s -> s.contains(WEB) && !s.contains(BARE));
  }

  String scrape() {
    return telemetry.registry().scrape();
  }

  String await(Predicate<String> ok) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    String s = scrape();
    while (!ok.test(s)) {
      assertThat(System.nanoTime()).as("not in 30 s:\n%s", s).isLessThan(deadline);
      Thread.sleep(50);
      s = scrape();
    }
    return s;
  }
}
