package dev.lamina.kube;

import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.ListOptionsBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodList;
import io.fabric8.kubernetes.api.model.PodStatus;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.FilterWatchListDeletable;
import io.fabric8.kubernetes.client.dsl.PodResource;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.io.Closeable;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The pods of one node, from a fabric8 informer on {@code spec.nodeName}: a list, then a watch that
 * the informer re-establishes (and re-lists) when it drops, so a pod deleted meanwhile leaves the
 * index too. Containers are found by the ID in {@code status.containerStatuses[].containerID}
 * ({@code containerd://<id>}), init and ephemeral containers included.
 *
 * <p>A watch can also die without the informer noticing: fabric8's WebSocket watch over the JDK
 * client sometimes goes on "watching" a connection that was dropped, and hears nothing again. So
 * a watchdog lists the node's pods every {@code check} interval (from the API server's watch cache)
 * and compares them with the informer's: a difference seen on two checks in a row, or an informer
 * that stays unwatching while the API server answers, means the watch is lost, and the informer is
 * replaced by a new one, which lists and watches afresh.
 *
 * <p>An API server that refuses (403) or cannot be reached leaves the index empty: the first
 * failure is logged with its reason, later ones only at debug, and the informer keeps retrying.
 */
public final class NodePods implements Pods, Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(NodePods.class);
  private static final String CONTAINERD = "containerd://";
  /** How often the watchdog compares the watch with a list, unless told otherwise. */
  public static final Duration DEFAULT_CHECK = Duration.ofSeconds(60);

  private final KubernetesClient client;
  private final String node;
  private final Runnable onChange;
  private final AtomicBoolean failing = new AtomicBoolean();
  private final ScheduledExecutorService watchdog;
  private final Object lifecycle = new Object();
  private volatile SharedIndexInformer<Pod> informer;
  private volatile Map<String, PodContainer> byId = Map.of();
  // watchdog state, on its thread only
  private Set<String> suspect = Set.of();
  private boolean unwatchingBefore;
  private boolean closed; // guarded by lifecycle

  private NodePods(KubernetesClient client, String node, Runnable onChange) {
    this.client = client;
    this.node = node;
    this.onChange = onChange;
    this.watchdog = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "pods-watchdog");
      t.setDaemon(true);
      return t;
    });
  }

  /** {@link #watch(KubernetesClient, String, Runnable, Duration)} checked every minute. */
  public static NodePods watch(KubernetesClient client, String node, Runnable onChange) {
    return watch(client, node, onChange, DEFAULT_CHECK);
  }

  /**
   * Starts watching the pods of {@code node} and returns at once; {@code onChange} runs (on the
   * informer's thread) after each change to the index. The watchdog checks the watch every {@code
   * check}. The client is closed with this.
   */
  public static NodePods watch(KubernetesClient client, String node, Runnable onChange, Duration check) {
    NodePods pods = new NodePods(client, node, onChange);
    synchronized (pods.lifecycle) {
      pods.informer = pods.startInformer();
    }
    long every = check.toMillis();
    pods.watchdog.scheduleWithFixedDelay(pods::checkWatch, every, every, TimeUnit.MILLISECONDS);
    return pods;
  }

  private SharedIndexInformer<Pod> startInformer() {
    SharedIndexInformer<Pod> created = pods().runnableInformer(0);
    created.addEventHandler(new ResourceEventHandler<Pod>() {
      @Override
      public void onAdd(Pod pod) {
        reindex(created);
      }

      @Override
      public void onUpdate(Pod old, Pod pod) {
        reindex(created);
      }

      @Override
      public void onDelete(Pod pod, boolean finalStateUnknown) {
        reindex(created);
      }
    });
    created.exceptionHandler((started, t) -> {
      if (failing.compareAndSet(false, true)) {
        LOG.warn("pods of node {} not known: {}; container sizes are exported with container_id only until the "
            + "API server answers (retrying)", node, reason(t));
      } else {
        LOG.debug("pods of node {}: {}", node, reason(t));
      }
      return true;
    });
    created.start().whenComplete((ok, t) -> {
      if (t == null) {
        // a fresh list that is empty, or lacks pods the old informer had, fires no event
        reindex(created);
        LOG.info("watching the pods of node {} ({} with containers)", node, byId.size());
      }
    });
    return created;
  }

  private FilterWatchListDeletable<Pod, PodList, PodResource> pods() {
    return client.pods().inAnyNamespace().withField("spec.nodeName", node);
  }

  @Override
  public Optional<PodContainer> container(String containerId) {
    return Optional.ofNullable(byId.get(containerId));
  }

  /** Whether the informer has listed the pods and is watching them now. */
  public boolean watching() {
    return informer.isWatching();
  }

  /** The watchdog: replaces an informer whose watch missed changes or stays down. */
  private void checkWatch() {
    SharedIndexInformer<Pod> current = informer;
    if (!current.hasSynced()) {
      return; // still listing, or the API server refuses: the informer retries and logs that
    }
    Set<String> listed;
    try {
      listed = versions(pods().list(new ListOptionsBuilder().withResourceVersion("0").build()).getItems());
    } catch (KubernetesClientException e) {
      LOG.debug("pods of node {}: watchdog list failed: {}", node, reason(e));
      return;
    }
    boolean unwatching = !current.isWatching();
    Set<String> differing = new HashSet<>(listed);
    Set<String> stored = versions(current.getStore().list());
    differing.removeAll(stored);
    stored.removeAll(listed);
    differing.addAll(stored);
    Set<String> missed = new HashSet<>(differing);
    missed.retainAll(suspect); // one difference may be an event in flight; the same one twice is not
    String reason = !missed.isEmpty() ? "missed " + missed.size() + " change(s), " + missed.iterator().next()
        : unwatching && unwatchingBefore ? "has stayed down while the API server answers" : null;
    suspect = differing;
    unwatchingBefore = unwatching;
    if (reason != null) {
      restart(current, reason);
    }
  }

  private void restart(SharedIndexInformer<Pod> stale, String reason) {
    synchronized (lifecycle) {
      if (closed || informer != stale) {
        return;
      }
      LOG.warn("the watch of node {}'s pods {}; listing and watching them again", node, reason);
      suspect = Set.of();
      unwatchingBefore = false;
      informer = startInformer();
    }
    stale.close();
  }

  /** namespace/name@resourceVersion of each pod. */
  private static Set<String> versions(List<Pod> pods) {
    Set<String> versions = new HashSet<>();
    for (Pod p : pods) {
      versions.add(p.getMetadata().getNamespace() + "/" + p.getMetadata().getName() + "@"
          + p.getMetadata().getResourceVersion());
    }
    return versions;
  }

  private void reindex(SharedIndexInformer<Pod> source) {
    if (source != informer) {
      return; // replaced: its late events would bring back what the new one no longer has
    }
    if (failing.compareAndSet(true, false)) {
      LOG.info("pods of node {} known again", node);
    }
    Map<String, PodContainer> index = new HashMap<>();
    for (Pod p : source.getStore().list()) {
      PodStatus s = p.getStatus();
      if (s == null || p.getSpec() == null || !node.equals(p.getSpec().getNodeName())) {
        continue; // the field selector should have left it out
      }
      String ns = p.getMetadata().getNamespace();
      String name = p.getMetadata().getName();
      Stream.of(s.getContainerStatuses(), s.getInitContainerStatuses(), s.getEphemeralContainerStatuses())
          .filter(l -> l != null).flatMap(List::stream)
          .forEach(c -> id(c).ifPresent(id -> index.put(id, new PodContainer(ns, name, c.getName(), image(c)))));
    }
    byId = Map.copyOf(index);
    onChange.run();
  }

  private static Optional<String> id(ContainerStatus c) {
    String id = c.getContainerID();
    if (id == null || !id.startsWith(CONTAINERD) || id.length() == CONTAINERD.length()) {
      return Optional.empty();
    }
    return Optional.of(id.substring(CONTAINERD.length()));
  }

  private static String image(ContainerStatus c) {
    return c.getImage() == null ? "" : c.getImage();
  }

  private static String reason(Throwable t) {
    String m = t.getMessage();
    return t.getClass().getSimpleName() + (m == null ? "" : ": " + m.lines().findFirst().orElse(""));
  }

  @Override
  public void close() {
    synchronized (lifecycle) {
      closed = true;
    }
    watchdog.shutdownNow();
    informer.close();
    client.close();
  }
}
