package dev.lamina.e2e;

import dev.lamina.kube.MockApiServer;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * Not a test: what the metrics cost, in one run (bench/metrics.sh runs it):
 *
 * <ul>
 *   <li>scrape latency of {@code /metrics} with {@code containers} active container snapshots,
 *       each labelled by a pod that fabric8's mock API server serves, once the size sweep has
 *       measured them all (Prometheus text and OpenMetrics);
 *   <li>the resident memory of {@code bin/lamina serve} when idle (the JDK, JVM options and class
 *       cache it picks), with the metrics on and with them off, alternating.
 * </ul>
 *
 * <p>Run: {@code bench/metrics.sh [--containers N] [--scrapes N] [--rounds N] [--work DIR]}
 */
public final class MetricsBench {
  private static final String NODE = "bench-node";
  private static final String NAMESPACE = "k8s.io";

  /** Held: java.util.logging keeps loggers weakly, and the mock server logs every request at INFO. */
  private static final java.util.logging.Logger MOCK_LOG = java.util.logging.Logger.getLogger("io.fabric8.mockwebserver");

  private MetricsBench() {}

  public static void main(String[] args) throws Exception {
    if (args.length < 1) {
      System.err.println("usage: MetricsBench WORKDIR [containers] [scrapes] [rounds]");
      System.exit(2);
    }
    Path work = Files.createDirectories(Path.of(args[0]));
    int containers = args.length > 1 ? Integer.parseInt(args[1]) : 500;
    int scrapes = args.length > 2 ? Integer.parseInt(args[2]) : 200;
    int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 3;
    MOCK_LOG.setLevel(java.util.logging.Level.WARNING);
    System.out.printf(Locale.ROOT, "scrapes: lamina serve on JDK %s, %d cores%n", System.getProperty("java.version"),
        Runtime.getRuntime().availableProcessors());
    scrapeLatency(work.resolve("scrape"), containers, scrapes);
    idleMemory(work.resolve("idle"), rounds);
  }

  private static void scrapeLatency(Path dir, int containers, int scrapes) throws Exception {
    try (MockApiServer kube = new MockApiServer()) {
      List<String> ids = new ArrayList<>();
      for (int i = 0; i < containers; i++) {
        String id = String.format(Locale.ROOT, "%064x", i + 1);
        ids.add(id);
        kube.create(MockApiServer.pod("team-" + (i % 20), "web-" + i, NODE, "app", "registry.example/app:v" + (i % 7),
            id));
      }
      String address = "127.0.0.1:" + PrometheusServer.freePort();
      Files.createDirectories(dir);
      try (ContainerdLaminaProcess lamina = ContainerdLaminaProcess.start(dir.resolve("root"),
          dir.resolve("snapshots.sock"), "overlay", dir.resolve("lamina.log"), List.of(), List.of(
              "--metrics-address", address, "--size-interval", "1", "--node-name", NODE,
              "--kubeconfig", kube.kubeconfig(dir.resolve("kubeconfig")).toString()));
          ContainerdSnapshotsClient snapshots = ContainerdSnapshotsClient.lamina(lamina.socket())) {
        snapshots.prepare("base-active", "");
        snapshots.commit("base", "base-active");
        for (int i = 0; i < containers; i++) {
          snapshots.prepare(NAMESPACE + "/" + (i + 10) + "/" + ids.get(i), "base");
        }
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        URI uri = URI.create("http://" + address + "/metrics");
        long deadline = System.nanoTime() + Duration.ofMinutes(3).toNanos();
        String body = "";
        while (System.nanoTime() < deadline) {
          body = http.send(HttpRequest.newBuilder(uri).build(), HttpResponse.BodyHandlers.ofString()).body();
          if (series(body, "lamina_container_rw_bytes{") == containers
              && body.lines().filter(l -> l.startsWith("lamina_container_rw_bytes{") && l.contains("pod=\"web-"))
              .count() == containers) {
            break;
          }
          Thread.sleep(500);
        }
        if (series(body, "lamina_container_rw_bytes{") != containers) {
          throw new IllegalStateException("the sweep never reported " + containers + " containers: "
              + series(body, "lamina_container_rw_bytes{") + " series\n" + lamina.logText());
        }
        System.out.printf(Locale.ROOT, "scrape of /metrics with %d containers labelled by pod (%d series in all,"
            + " %d KiB), ms over %d scrapes:%n", containers, body.lines().filter(l -> !l.startsWith("#")).count(),
            body.length() / 1024, scrapes);
        for (String accept : List.of("text/plain;version=0.0.4", "application/openmetrics-text;version=1.0.0")) {
          List<Double> ms = new ArrayList<>();
          for (int i = 0; i < scrapes + 20; i++) {
            long t = System.nanoTime();
            HttpResponse<byte[]> r = http.send(HttpRequest.newBuilder(uri).header("Accept", accept).build(),
                HttpResponse.BodyHandlers.ofByteArray());
            double took = (System.nanoTime() - t) / 1e6;
            if (r.statusCode() != 200) {
              throw new IllegalStateException("scrape answered " + r.statusCode());
            }
            if (i >= 20) { // the first scrapes compile the exposition path
              ms.add(took);
            }
          }
          System.out.printf(Locale.ROOT, "  %-45s %s%n", accept, percentiles(ms));
        }
      }
    }
  }

  private static void idleMemory(Path dir, int rounds) throws Exception {
    Path cache = Files.createDirectories(dir.resolve("cache"));
    idleRssMiB(dir.resolve("training"), true, cache); // bin/lamina's first start trains its class cache
    List<Double> on = new ArrayList<>();
    List<Double> off = new ArrayList<>();
    for (int i = 0; i < rounds; i++) {
      on.add(idleRssMiB(dir.resolve("on-" + i), true, cache));
      off.add(idleRssMiB(dir.resolve("off-" + i), false, cache));
    }
    System.out.printf(Locale.ROOT, "idle resident memory of bin/lamina serve 20 s after start (its JDK, JVM options"
        + " and class cache), MiB, median (min-max) of %d:%n  metrics on   %s%n  metrics off  %s%n", rounds,
        medianRange(on), medianRange(off));
  }

  private static double idleRssMiB(Path dir, boolean metrics, Path cache) throws Exception {
    Files.createDirectories(dir);
    List<String> cmd = new ArrayList<>(List.of(ContainerdHarness.projectRoot().resolve("bin/lamina").toString(),
        "serve", "--root", dir.resolve("root").toString(), "--socket", dir.resolve("c.sock").toString(),
        "--snapshotter-socket", dir.resolve("s.sock").toString(), "--containerd-address="));
    cmd.addAll(metrics
        ? List.of("--metrics-address", "127.0.0.1:" + PrometheusServer.freePort(), "--size-interval", "1")
        : List.of("--metrics-address="));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(dir.resolve("lamina.log").toFile());
    pb.environment().put("LAMINA_CACHE_DIR", cache.toString());
    Process p = pb.start(); // bin/lamina execs the JVM: the same process
    try {
      Thread.sleep(20_000);
      if (!p.isAlive()) {
        throw new IOException("lamina serve exited " + p.exitValue() + ": " + Files.readString(dir.resolve("lamina.log")));
      }
      for (String line : Files.readAllLines(Path.of("/proc/" + p.pid() + "/status"))) {
        if (line.startsWith("VmRSS:")) {
          return Long.parseLong(line.replaceAll("\\D+", "")) / 1024.0;
        }
      }
      throw new IOException("no VmRSS for " + p.pid());
    } finally {
      p.destroy(); // SIGTERM: a clean stop, which writes the class cache on the first start
      p.waitFor();
    }
  }

  private static long series(String body, String prefix) {
    return body.lines().filter(l -> l.startsWith(prefix)).count();
  }

  private static String percentiles(List<Double> ms) {
    List<Double> s = new ArrayList<>(ms);
    Collections.sort(s);
    return String.format(Locale.ROOT, "median %.2f  p90 %.2f  p99 %.2f  max %.2f", s.get(s.size() / 2),
        s.get((int) (s.size() * 0.9)), s.get(Math.min(s.size() - 1, (int) (s.size() * 0.99))), s.get(s.size() - 1));
  }

  private static String medianRange(List<Double> v) {
    List<Double> s = new ArrayList<>(v);
    Collections.sort(s);
    return String.format(Locale.ROOT, "%.1f (%.1f-%.1f)", s.get(s.size() / 2), s.get(0), s.get(s.size() - 1));
  }
}
