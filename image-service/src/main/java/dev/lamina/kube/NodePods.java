package dev.lamina.kube;

import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodStatus;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;
import java.io.Closeable;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
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
 * <p>An API server that refuses (403) or cannot be reached leaves the index empty: the first
 * failure is logged with its reason, later ones only at debug, and the informer keeps retrying.
 */
public final class NodePods implements Pods, Closeable {
  private static final Logger LOG = LoggerFactory.getLogger(NodePods.class);
  private static final String CONTAINERD = "containerd://";

  private final KubernetesClient client;
  private final String node;
  private final SharedIndexInformer<Pod> informer;
  private final Runnable onChange;
  private final AtomicBoolean failing = new AtomicBoolean();
  private volatile Map<String, PodContainer> byId = Map.of();

  private NodePods(KubernetesClient client, String node, Runnable onChange) {
    this.client = client;
    this.node = node;
    this.onChange = onChange;
    this.informer = client.pods().inAnyNamespace().withField("spec.nodeName", node).runnableInformer(0);
  }

  /**
   * Starts watching the pods of {@code node} and returns at once; {@code onChange} runs (on the
   * informer's thread) after each change to the index. The client is closed with this.
   */
  public static NodePods watch(KubernetesClient client, String node, Runnable onChange) {
    NodePods pods = new NodePods(client, node, onChange);
    pods.informer.addEventHandler(new ResourceEventHandler<Pod>() {
      @Override
      public void onAdd(Pod pod) {
        pods.reindex();
      }

      @Override
      public void onUpdate(Pod old, Pod pod) {
        pods.reindex();
      }

      @Override
      public void onDelete(Pod pod, boolean finalStateUnknown) {
        pods.reindex();
      }
    });
    pods.informer.exceptionHandler((started, t) -> {
      if (pods.failing.compareAndSet(false, true)) {
        LOG.warn("pods of node {} not known: {}; container sizes are exported with container_id only until the "
            + "API server answers (retrying)", node, reason(t));
      } else {
        LOG.debug("pods of node {}: {}", node, reason(t));
      }
      return true;
    });
    pods.informer.start().whenComplete((ok, t) -> {
      if (t == null) {
        LOG.info("watching the pods of node {} ({} with containers)", node, pods.byId.size());
      }
    });
    return pods;
  }

  @Override
  public Optional<PodContainer> container(String containerId) {
    return Optional.ofNullable(byId.get(containerId));
  }

  /** Whether the informer has listed the pods and is watching them now. */
  public boolean watching() {
    return informer.isWatching();
  }

  private void reindex() {
    if (failing.compareAndSet(true, false)) {
      LOG.info("pods of node {} known again", node);
    }
    Map<String, PodContainer> index = new HashMap<>();
    for (Pod p : informer.getStore().list()) {
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
    informer.close();
    client.close();
  }
}
