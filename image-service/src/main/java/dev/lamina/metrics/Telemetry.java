package dev.lamina.metrics;

import dev.lamina.content.Manager;
import dev.lamina.digest.Digest;
import dev.lamina.images.FilesystemUsage;
import dev.lamina.images.ImageManager;
import dev.lamina.images.ImageRecord;
import dev.lamina.kube.NodePods;
import dev.lamina.kube.PodContainer;
import dev.lamina.kube.Pods;
import dev.lamina.sizes.ContainerSize;
import dev.lamina.sizes.SizeSampler;
import dev.lamina.sizes.TaskEvents;
import dev.lamina.snapshots.Kind;
import dev.lamina.snapshots.Snapshotter;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.grpc.BindableService;
import io.grpc.ServerInterceptor;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the daemon tells about itself, wired in one place: the meters ({@link LaminaMetrics}) on a
 * Prometheus registry, the HTTP endpoint, the background size sweep, the pods of this node, and
 * the {@code lamina.v1.Containers} service that {@code lamina ps} asks. The server asks it for a
 * metered image manager, its call interceptor and its services, then {@link #start}s it.
 */
public final class Telemetry implements Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(Telemetry.class);

  /**
   * @param metricsAddress {@code host:port} to serve {@code /metrics} on, empty for none
   * @param sizeInterval the pause between two size sweeps
   * @param nodeName this node's name, whose pods label the sizes; empty: no pod labels
   * @param kubeconfig the API server to ask, or null for in-cluster configuration
   */
  public record Options(String metricsAddress, Duration sizeInterval, String nodeName, Path kubeconfig) {
    public static final Duration DEFAULT_SIZE_INTERVAL = Duration.ofSeconds(10);

    public Options {
      metricsAddress = metricsAddress == null ? "" : metricsAddress.trim();
      nodeName = nodeName == null ? "" : nodeName.trim();
      if (sizeInterval == null || sizeInterval.isNegative() || sizeInterval.isZero()) {
        throw new IllegalArgumentException("size interval must be positive");
      }
      if (!metricsAddress.isEmpty()) {
        MetricsEndpoint.parseAddress(metricsAddress); // fails the start, naming what is wrong
      }
    }

    public static Options defaults() {
      return new Options("", DEFAULT_SIZE_INTERVAL, "", null);
    }
  }

  private final Options options;
  private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final LaminaMetrics metrics;
  private final SizeSampler sampler;
  private final Manager content;
  private final ScheduledExecutorService scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "lamina-sizes");
    t.setDaemon(true);
    return t;
  });
  private final AtomicReference<Map<String, String>> imageByTopLayer = new AtomicReference<>(Map.of());
  private final AtomicReference<List<ContainerRow>> rows = new AtomicReference<>(List.of());
  private final AtomicLong sweeps = new AtomicLong();
  private volatile ImageManager images;
  private volatile Pods pods = Pods.NONE;
  private volatile boolean ready;
  private volatile NodePods nodePods;
  private MetricsEndpoint endpoint;

  private Telemetry(Options options, Snapshotter snapshotter, Manager content) {
    this.options = options;
    this.metrics = new LaminaMetrics(registry).withJvmMetrics();
    this.sampler = new SizeSampler(snapshotter);
    this.content = content;
  }

  public static Telemetry open(Options options, Snapshotter snapshotter, Manager content) {
    return new Telemetry(options, snapshotter, content);
  }

  /** {@code images} with its pulls counted; its records also name the containers' images. */
  public ImageManager meter(ImageManager images) {
    MeteredImageManager m = new MeteredImageManager(images, metrics);
    if (images instanceof dev.lamina.containerd.RegistrationListener.Source registering) {
      registering.listen(metrics.registrations());
    }
    if (images instanceof TaskEvents.Source tasks) {
      tasks.listenToTasks(sampler.tasks());
    }
    this.images = m;
    return m;
  }

  /** Times containerd's snapshot calls; to be installed on the server, ahead of the services. */
  public ServerInterceptor calls() {
    return new SnapshotCallsInterceptor(metrics);
  }

  /** {@code lamina.v1.Containers}, for the CRI socket. */
  public BindableService containersService() {
    return new ContainersService(this::containers);
  }

  /** The containers as last measured, with their pods, largest writable layer first. */
  public List<ContainerRow> containers() {
    return rows.get();
  }

  public PrometheusMeterRegistry registry() {
    return registry;
  }

  /** Whether the pods of this node are listed and watched now (false without a node name or API). */
  public boolean watchingPods() {
    NodePods n = nodePods;
    return n != null && n.watching();
  }

  /** The metrics endpoint's port, or -1 when there is none. */
  public int metricsPort() {
    MetricsEndpoint e = endpoint;
    return e == null ? -1 : e.port();
  }

  /** Binds the metrics endpoint, starts watching pods and sweeping sizes. */
  public synchronized void start() throws IOException {
    if (!options.metricsAddress().isEmpty()) {
      endpoint = MetricsEndpoint.start(MetricsEndpoint.parseAddress(options.metricsAddress()), registry, () -> ready);
    }
    watchPods();
    scheduler.scheduleWithFixedDelay(this::sweepQuietly, 0, options.sizeInterval().toMillis(), TimeUnit.MILLISECONDS);
    ready = true;
  }

  private void watchPods() {
    if (options.nodeName().isEmpty()) {
      LOG.info("no node name (--node-name, $NODE_NAME): container sizes are exported with container_id only");
      return;
    }
    Config config;
    try {
      if (options.kubeconfig() != null) {
        config = Config.fromKubeconfig(null, Files.readString(options.kubeconfig()), options.kubeconfig().toString());
      } else if (System.getenv("KUBERNETES_SERVICE_HOST") != null) {
        config = Config.autoConfigure(null);
      } else {
        LOG.info("not in a cluster and no --kubeconfig: container sizes are exported with container_id only");
        return;
      }
    } catch (IOException | RuntimeException e) {
      LOG.warn("kube API configuration {} unusable ({}): container sizes are exported with container_id only",
          options.kubeconfig() == null ? "(in-cluster)" : options.kubeconfig(), e.getMessage());
      return;
    }
    KubernetesClient client = new KubernetesClientBuilder().withConfig(config).build();
    nodePods = NodePods.watch(client, options.nodeName(), this::publish);
    pods = nodePods;
  }

  /** Marks the daemon not ready ({@code /readyz} 503) while it stops. */
  public void stopping() {
    ready = false;
  }

  /** One sweep now, on the caller's thread (tests; the scheduler runs them otherwise). */
  public void sweep() throws IOException, InterruptedException {
    SizeSampler.Sweep s = sampler.sweep();
    Map<String, Integer> kinds = new HashMap<>();
    for (Map.Entry<Kind, Integer> e : s.snapshots().entrySet()) {
      kinds.put(e.getKey().name(), e.getValue());
    }
    for (Kind k : Kind.values()) {
      kinds.putIfAbsent(k.name(), 0);
    }
    metrics.snapshots(kinds);
    metrics.sweepFinished(s.took().toNanos(), s.errors(), s.unchanged());
    countStore();
    publish();
    if (sweeps.incrementAndGet() == 1) {
      LOG.info("first size sweep: {} containers measured in {} ms", s.containers().size(), s.took().toMillis());
    }
  }

  private void sweepQuietly() {
    try {
      sweep();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (IOException | RuntimeException e) {
      LOG.warn("size sweep failed: {}", e.toString());
    }
  }

  /** Counts content and images: metadata queries, off the scrape path. */
  private void countStore() throws IOException {
    long[] blobs = new long[2];
    content.walk(i -> {
      blobs[0]++;
      blobs[1] += i.size();
    }, List.of());
    ImageManager im = images;
    long imageCount = -1;
    long fsBytes = -1;
    long fsInodes = -1;
    if (im != null) {
      List<ImageRecord> records = im.list();
      imageCount = records.size();
      Map<String, String> byTop = new HashMap<>();
      for (ImageRecord r : records) {
        List<Digest> chain = r.chainIds();
        if (!chain.isEmpty()) {
          String name = !r.repoTags().isEmpty() ? r.repoTags().get(0)
              : !r.repoDigests().isEmpty() ? r.repoDigests().get(0) : r.id().toString();
          byTop.put(chain.get(chain.size() - 1).toString(), name);
        }
      }
      imageByTopLayer.set(Map.copyOf(byTop));
      FilesystemUsage u = im.usage();
      fsBytes = u.usedBytes();
      fsInodes = u.inodesUsed();
    }
    metrics.store(new StoreStats(fsBytes, fsInodes, blobs[1], blobs[0], imageCount));
  }

  /** Joins the last sweep with the pods known now and replaces every container's series. */
  private synchronized void publish() {
    Pods p = pods;
    Map<String, String> byTop = imageByTopLayer.get();
    List<ContainerRow> out = new ArrayList<>();
    for (ContainerSize s : sampler.latest().containers().values()) {
      Optional<PodContainer> pod = p.container(s.container().containerId());
      String image = pod.map(PodContainer::image).filter(i -> !i.isEmpty())
          .orElseGet(() -> byTop.getOrDefault(lastSegment(s.parent()), ""));
      out.add(new ContainerRow(s, pod, image));
    }
    out.sort(Comparator.comparingLong(ContainerRow::sizeRw).reversed()
        .thenComparing(r -> r.size().key()));
    rows.set(List.copyOf(out));
    metrics.containers(out);
  }

  /** containerd names its snapshots {@code <namespace>/<n>/<name>}: the chain ID is the last part. */
  private static String lastSegment(String name) {
    int slash = name.lastIndexOf('/');
    return slash < 0 ? name : name.substring(slash + 1);
  }

  @Override
  public synchronized void close() {
    ready = false;
    scheduler.shutdownNow();
    if (endpoint != null) {
      endpoint.close();
    }
    if (nodePods != null) {
      nodePods.close();
    }
    metrics.close();
    registry.close();
  }
}
