package dev.lamina.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lamina.containerd.types.Mount;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import dev.lamina.kube.MockApiServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * Container sizes with the real thing: containerd 1.6 runs a container on lamina ({@code ctr run
 * --snapshotter lamina}) that writes known amounts (files, a hard link, a deleted lower file, a
 * sparse file); lamina's SizeRw is what {@code du -s --block-size=1} says of the container's upper
 * dir and its SizeRootFs adds the committed layers' usage; Debian's prometheus scrapes lamina's
 * {@code --metrics-address} and a PromQL query returns the container's series labelled with the
 * pod that fabric8's mock API server lists for it; {@code promtool check metrics} passes on the
 * exposition; a container whose task exited keeps its size until a task starts again; the series
 * goes with the container's snapshot.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ContainerSizesPrometheusTest {
  private static final Duration SETTLE = Duration.ofSeconds(60);
  private static final String NODE = "e2e-node";
  private static final String CONTAINER = "sizes-1";
  private static final long SPARSE_LENGTH = 64L << 20;

  @TempDir static Path tmp;

  private static DockerRegistry registry;
  private static MockApiServer kube;
  private static ContainerdHarness harness;
  private static CriImagesClient cri;
  private static PrometheusServer prometheus;
  private static String ref;
  private static String metricsAddress;
  private static final HttpClient HTTP = HttpClient.newHttpClient();

  @BeforeAll
  static void start() throws Exception {
    ContainerdHarness.assumeUsable(tmp.resolve("probe"));
    Umoci.assumeInstalled();
    Assumptions.assumeTrue(DockerRegistry.installed(), DockerRegistry.MISSING);
    Assumptions.assumeTrue(PrometheusServer.installed(), PrometheusServer.MISSING);
    Assumptions.assumeTrue(ContainerdTestImages.busyboxIsStatic(),
        ContainerdTestImages.BUSYBOX + " is missing or not static (apt-get install busybox-static)");
    ContainerdTestImages.Built image = ContainerdTestImages.busybox(tmp.resolve("image"), "1");
    registry = DockerRegistry.start(tmp.resolve("registry"));
    ref = registry.push(image.layout(), image.tag(), "test/sizes");
    kube = new MockApiServer();
    kube.create(MockApiServer.pod("shop", "web-1", NODE, "app", ref, CONTAINER));
    kube.create(MockApiServer.pod("shop", "elsewhere", "other-node", "app", ref, "not-here"));
    metricsAddress = "127.0.0.1:" + PrometheusServer.freePort();
    Path dir = tmp.resolve("h");
    harness = ContainerdHarness.start(dir, List.of(
        "--containerd-address", ContainerdHarness.containerdSocket(dir).toString(),
        "--containerd-namespace", ContainerdHarness.NAMESPACE,
        "--containerd-snapshotter", ContainerdHarness.SNAPSHOTTER,
        "--metrics-address", metricsAddress,
        "--size-interval", "1",
        "--node-name", NODE,
        "--kubeconfig", kube.kubeconfig(tmp.resolve("kubeconfig")).toString()));
    harness.lamina().awaitCriSocket(Duration.ofSeconds(30));
    cri = CriImagesClient.connect(harness.lamina().criSocket());
    prometheus = PrometheusServer.start(tmp.resolve("prometheus"), metricsAddress);
  }

  @AfterAll
  static void stop() throws Exception {
    ContainerdHarness.closeAllThenUnmount(tmp, cri, prometheus, harness, kube, registry);
  }

  @Test
  @Order(1)
  void sizeRwIsWhatDuSaysOfTheUpperDirAndSizeRootFsAddsTheCommittedLayers() throws Exception {
    cri.pull(ref, null, Duration.ofMinutes(2));
    String script = String.join(" && ",
        "dd if=/dev/zero of=/data1 bs=4096 count=256 2>/dev/null",
        "mkdir -p /w/sub",
        "dd if=/dev/urandom of=/w/sub/b bs=1000 count=37 2>/dev/null",
        // a hard link: counted once
        "/bin/busybox ln /data1 /w/data1-link",
        // a lower file deleted: a whiteout in the upper dir
        "rm /usr/lib/data.bin",
        // a sparse file: 64 MiB long, one block allocated
        "dd if=/dev/zero of=/sparse bs=1 count=1 seek=" + (SPARSE_LENGTH - 1) + " 2>/dev/null",
        "sync", "echo written");
    // no --rm: the container stays, and with it its active snapshot, once its task exits
    assertThat(harness.ctr(Duration.ofMinutes(2), "run", "--snapshotter", ContainerdHarness.SNAPSHOTTER, ref,
        CONTAINER, "/bin/sh", "-c", script).check().stdout()).contains("written");

    String name = harness.laminaName(CONTAINER);
    Path upper = upperDir(harness.client().mounts(name));
    assertThat(upper.resolve("usr/lib/data.bin")).as("the whiteout").exists();
    assertThat(Files.size(upper.resolve("sparse"))).isEqualTo(SPARSE_LENGTH);
    long du = du(upper);
    assertThat(du).as("du of %s: data1 once, b, the whiteout, the sparse file's one block", upper)
        .isGreaterThanOrEqualTo((1L << 20) + 37_000).isLessThan(2L << 20);

    long committed = 0;
    for (String p = harness.client().stat(name).getParent(); !p.isEmpty(); p = harness.client().stat(p).getParent()) {
      committed += harness.client().usage(p).getSize();
    }
    assertThat(committed).as("the committed layers' usage").isGreaterThan(300_000);
    long expectedRootFs = du + committed;

    await("lamina's SizeRw of " + CONTAINER + " equal to du (" + du + ")",
        () -> sample("lamina_container_rw_bytes").equals(OptionalLong.of(du)));
    assertThat(sample("lamina_container_rootfs_bytes")).hasValue(expectedRootFs);
    assertThat(sample("lamina_container_rw_inodes")).isNotEmpty();
  }

  @Test
  @Order(2)
  void prometheusScrapesTheContainersSeriesWithItsPodsLabels() throws Exception {
    long rw = sample("lamina_container_rw_bytes").orElseThrow();
    long rootFs = sample("lamina_container_rootfs_bytes").orElseThrow();
    String selector = "{container_id=\"" + CONTAINER + "\",pod=\"web-1\"}";
    JsonNode[] found = new JsonNode[1];
    // a scrape from before the container's writes may be the latest for a second
    await("prometheus has " + CONTAINER + "'s series with its pod and SizeRw " + rw, () -> {
      JsonNode r = prometheus.query("lamina_container_rw_bytes" + selector);
      found[0] = r;
      return r.size() == 1 && Double.parseDouble(r.get(0).path("value").get(1).asText()) == rw;
    });
    JsonNode series = found[0].get(0);
    JsonNode labels = series.path("metric");
    assertThat(labels.path("job").asText()).isEqualTo("lamina");
    assertThat(labels.path("instance").asText()).isEqualTo(metricsAddress);
    assertThat(labels.path("namespace").asText()).isEqualTo("shop");
    assertThat(labels.path("pod").asText()).isEqualTo("web-1");
    assertThat(labels.path("container").asText()).isEqualTo("app");
    assertThat(labels.path("image").asText()).isEqualTo(ref);
    assertThat(Double.parseDouble(series.path("value").get(1).asText())).isEqualTo((double) rw);

    JsonNode root = prometheus.query("lamina_container_rootfs_bytes" + selector);
    assertThat(Double.parseDouble(root.get(0).path("value").get(1).asText())).isEqualTo((double) rootFs);

    // the operators' question: which pod is filling this node's disk through its writable layer
    JsonNode top = prometheus.query("topk(1, sum by (namespace, pod) (lamina_container_rw_bytes))");
    assertThat(top.get(0).path("metric").path("pod").asText()).isEqualTo("web-1");
    assertThat(prometheus.query("lamina_container_rw_bytes{container_id=\"not-here\"}"))
        .as("another node's pod").isEmpty();
    assertThat(prometheus.query("up{job=\"lamina\"}").get(0).path("value").get(1).asText()).isEqualTo("1");
  }

  @Test
  @Order(3)
  void promtoolCheckMetricsPassesOnTheExposition() throws Exception {
    Path exposition = tmp.resolve("metrics.txt");
    Files.writeString(exposition, scrape("text/plain"));
    assertThat(Files.readString(exposition)).contains("lamina_container_rw_bytes{").contains("lamina_pulls_total{");
    Commands.Result check = Commands.run(null, Duration.ofSeconds(60),
        List.of("sh", "-c", PrometheusServer.PROMTOOL + " check metrics < '" + exposition + "'"));
    assertThat(check.exitCode()).as("promtool check metrics: %s%s", check.stdout(), check.stderr()).isZero();
    assertThat(scrape("application/openmetrics-text; version=1.0.0; charset=utf-8")).endsWith("# EOF\n");
  }

  @Test
  @Order(3)
  void thePullsRegistrationInContainerdIsCountedAndTimed() throws Exception {
    String text = scrape("text/plain");
    assertThat(text).as("the pulled image, registered once").contains(
        "lamina_containerd_registrations_total{outcome=\"registered\"} 1.0")
        .contains("lamina_containerd_registrations_total{outcome=\"failed\"} 0.0")
        .contains("lamina_containerd_registration_lag_seconds_count 1");
    Matcher sum = Pattern.compile("^lamina_containerd_registration_lag_seconds_sum (\\S+)$", Pattern.MULTILINE)
        .matcher(text);
    assertThat(sum.find()).isTrue();
    assertThat(Double.parseDouble(sum.group(1))).as("registration lag, seconds").isGreaterThan(0).isLessThan(10);
  }

  @Test
  @Order(4)
  void aContainerWhoseTaskExitedIsNotWalkedAgainUntilATaskStarts() throws Exception {
    // its task exited when ctr run returned, and lamina heard that in containerd's events
    await("the sweep keeping the exited container's size", () -> gauge("lamina_size_sweep_unchanged") == 1);
    long kept = sample("lamina_container_rw_bytes").orElseThrow();
    Path upper = upperDir(harness.client().mounts(harness.laminaName(CONTAINER)));
    // written from outside, not by the container: a walk would count it, a kept size does not
    Files.write(upper.resolve("from-outside"), new byte[64 << 10]);
    Thread.sleep(3_000); // three sweeps at --size-interval 1
    assertThat(sample("lamina_container_rw_bytes")).hasValue(kept);

    harness.ctr("tasks", "delete", CONTAINER).ok(); // ctr run deleted it already
    harness.ctr(Duration.ofMinutes(2), "tasks", "start", CONTAINER); // the script again; it ends at its ln
    long du = du(upper);
    assertThat(du).isGreaterThan(kept);
    await("SizeRw walked again after the new task (du " + du + ")",
        () -> sample("lamina_container_rw_bytes").equals(OptionalLong.of(du)));

    // a lamina started after the exit hears no exit: it lists containerd's tasks, and this
    // container has none
    harness.restartLamina(false);
    harness.lamina().awaitCriSocket(Duration.ofSeconds(30));
    await("the restarted lamina keeping the exited container's size",
        () -> gauge("lamina_size_sweep_unchanged") == 1);
    assertThat(sample("lamina_container_rw_bytes")).hasValue(du);
  }

  @Test
  @Order(5)
  void theSeriesGoesWithTheContainersSnapshot() throws Exception {
    harness.ctr("tasks", "delete", CONTAINER).ok();
    harness.ctr("containers", "rm", CONTAINER).check();
    assertThat(harness.awaitGone(CONTAINER, SETTLE)).as("the snapshot removed").isTrue();
    await("lamina's series of " + CONTAINER + " gone", () -> sample("lamina_container_rw_bytes").isEmpty());
    await("prometheus no longer has the series",
        () -> prometheus.query("lamina_container_rw_bytes{container_id=\"" + CONTAINER + "\"}").isEmpty());
  }

  // ------------------------------------------------------------------ helpers

  private static Path upperDir(List<Mount> mounts) {
    for (Mount m : mounts) {
      for (String o : m.getOptionsList()) {
        if (o.startsWith("upperdir=")) {
          return Path.of(o.substring("upperdir=".length()));
        }
      }
    }
    throw new AssertionError("no upperdir in " + mounts);
  }

  private static long du(Path dir) throws IOException {
    String out = Commands.run("du", "-s", "--block-size=1", dir.toString()).check().stdout();
    return Long.parseLong(out.split("\\s+")[0]);
  }

  private static String scrape(String accept) throws IOException {
    try {
      HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://" + metricsAddress + "/metrics"))
          .header("Accept", accept).timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
      assertThat(r.statusCode()).isEqualTo(200);
      return r.body();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
  }

  /** The value of {@code metric} for {@link #CONTAINER} in lamina's exposition, if it has one. */
  private static OptionalLong sample(String metric) throws IOException {
    Pattern p = Pattern.compile("^" + metric + "\\{([^}]*)\\} (\\S+)$", Pattern.MULTILINE);
    Matcher m = p.matcher(scrape("text/plain"));
    while (m.find()) {
      if (m.group(1).contains("container_id=\"" + CONTAINER + "\"")) {
        return OptionalLong.of((long) Double.parseDouble(m.group(2)));
      }
    }
    return OptionalLong.empty();
  }

  /** The value of {@code metric}, which has no labels, in lamina's exposition; NaN before it serves one. */
  private static double gauge(String metric) throws IOException {
    String exposition;
    try {
      exposition = scrape("text/plain");
    } catch (java.net.ConnectException e) {
      return Double.NaN; // a lamina just started has not bound its metrics address yet
    }
    Matcher m = Pattern.compile("^" + metric + " (\\S+)$", Pattern.MULTILINE).matcher(exposition);
    return m.find() ? Double.parseDouble(m.group(1)) : Double.NaN;
  }

  interface Check {
    boolean holds() throws Exception;
  }

  private static void await(String what, Check condition) throws Exception {
    long deadline = System.nanoTime() + SETTLE.toNanos();
    while (!condition.holds()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError(what + " within " + SETTLE + "\nprometheus targets: "
            + (prometheus == null ? "-" : prometheus.targets()) + "\nlamina log:\n" + harness.lamina().logText());
      }
      Thread.sleep(250);
    }
  }
}
