package dev.lamina.kube;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.Dispatcher;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import io.fabric8.mockwebserver.http.WebSocket;
import io.fabric8.mockwebserver.http.WebSocketListener;
import java.util.HashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The pods of a node from fabric8's mock API server in CRUD mode, which can also be told to answer
 * 403 (RBAC missing) and be reached through a relay that drops the watch.
 */
class NodePodsTest {
  /** The CRUD dispatcher, or 403 Forbidden for everything while {@code forbidden}. */
  static final class Gate extends Dispatcher {
    final KubernetesCrudDispatcher crud = new KubernetesCrudDispatcher();
    volatile boolean forbidden;
    /** The next watch is answered 410 Gone, as by an API server whose event history was compacted. */
    volatile boolean expireNextWatch;

    @Override
    public MockResponse dispatch(RecordedRequest request) {
      if (forbidden) {
        return new MockResponse().setResponseCode(403).setHeader("Content-Type", "application/json")
            .setBody("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"reason\":\"Forbidden\","
                + "\"message\":\"pods is forbidden: User \\\"system:serviceaccount:kube-system:lamina\\\" cannot list "
                + "resource \\\"pods\\\" in API group \\\"\\\" at the cluster scope\",\"code\":403}");
      }
      if (expireNextWatch && request.getPath().contains("watch=true")) {
        expireNextWatch = false;
        // what an API server sends a watch that asks for events it no longer has: an ERROR event, 410
        return new MockResponse().withWebSocketUpgrade(new WebSocketListener() {
          @Override
          public void onOpen(WebSocket ws, io.fabric8.mockwebserver.http.Response response) {
            ws.send("{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
                + "\"status\":\"Failure\",\"reason\":\"Expired\",\"message\":\"too old resource version\","
                + "\"code\":410}}");
            ws.close(1000, "");
          }
        });
      }
      // The CRUD mock matches field selectors on metadata.name and metadata.namespace only, and
      // nothing on spec.nodeName; like an API server that ignored it, it gets the request without,
      // and answers every node's pods (NodePods checks spec.nodeName itself).
      String path = request.getPath().replaceAll("fieldSelector=spec\\.nodeName%3D[^&]*&?", "");
      return crud.dispatch(new RecordedRequest(request.getHttpVersion(), request.method(), path,
          request.getHeaders(), request.getBody()));
    }
  }

  final Gate gate = new Gate();
  KubernetesMockServer server;
  KubernetesClient admin;
  DroppingRelay relay;
  NodePods pods;
  final AtomicInteger changes = new AtomicInteger();

  @BeforeEach
  void start() throws Exception {
    server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), gate, false);
    server.init();
    admin = server.createClient();
    relay = new DroppingRelay(server.getPort());
  }

  @AfterEach
  void stop() throws Exception {
    if (pods != null) {
      pods.close();
    }
    relay.close();
    admin.close();
    server.destroy();
  }

  /** NodePods for {@code node}, through the relay, reconnecting quickly. */
  NodePods watch(String node) {
    Config c = new ConfigBuilder(admin.getConfiguration()).withMasterUrl("http://127.0.0.1:" + relay.port())
        .withWatchReconnectInterval(100).withWatchReconnectLimit(-1).withRequestRetryBackoffInterval(100)
        .withRequestRetryBackoffLimit(1).build();
    pods = NodePods.watch(new KubernetesClientBuilder().withConfig(c).build(), node, changes::incrementAndGet);
    return pods;
  }

  static Pod pod(String ns, String name, String node, String container, String id) {
    return new PodBuilder().withNewMetadata().withNamespace(ns).withName(name).endMetadata()
        .withNewSpec().withNodeName(node).addNewContainer().withName(container).withImage("nginx:1.27").endContainer()
        .endSpec()
        .withNewStatus().withContainerStatuses(new ContainerStatusBuilder().withName(container)
            .withImage("docker.io/library/nginx:1.27").withContainerID("containerd://" + id).build())
        .endStatus().build();
  }

  @Test
  void containersOfThisNodesPodsAreFoundByTheirContainerdId() throws Exception {
    admin.pods().inNamespace("shop").resource(pod("shop", "web-1", "node-a", "nginx", "aaa111")).create();
    admin.pods().inNamespace("shop").resource(pod("shop", "web-2", "node-b", "nginx", "bbb222")).create();
    watch("node-a");
    await(() -> pods.container("aaa111").isPresent());
    assertThat(pods.container("aaa111"))
        .hasValue(new PodContainer("shop", "web-1", "nginx", "docker.io/library/nginx:1.27"));
    assertThat(pods.container("bbb222")).as("a pod of another node").isEmpty();

    admin.pods().inNamespace("shop").resource(pod("shop", "web-3", "node-a", "app", "ccc333")).create();
    await(() -> pods.container("ccc333").isPresent());
    admin.pods().inNamespace("shop").withName("web-1").delete();
    await(() -> pods.container("aaa111").isEmpty());
    assertThat(pods.container("ccc333")).isPresent();
  }

  @Test
  void aPodDeletedWhileTheWatchIsDownIsGoneOnceItIsBack() throws Exception {
    admin.pods().inNamespace("shop").resource(pod("shop", "web-1", "node-a", "nginx", "aaa111")).create();
    admin.pods().inNamespace("shop").resource(pod("shop", "web-2", "node-a", "nginx", "bbb222")).create();
    watch("node-a");
    await(() -> pods.container("aaa111").isPresent() && pods.container("bbb222").isPresent() && pods.watching());

    relay.drop();
    // The mock keeps no event history: where an API server would replay the delete to the resumed
    // watch, or send 410 when it no longer has it, the mock sends 410 and the informer lists again.
    gate.expireNextWatch = true;
    admin.pods().inNamespace("shop").withName("web-2").delete();
    admin.pods().inNamespace("shop").resource(pod("shop", "web-4", "node-a", "side", "ddd444")).create();
    Thread.sleep(300);
    relay.resume();

    await(() -> pods.container("bbb222").isEmpty() && pods.container("ddd444").isPresent());
    assertThat(pods.container("aaa111")).isPresent();
  }

  @Test
  void anApiServerThatForbidsLeavesNoPodsUntilItAllows() throws Exception {
    admin.pods().inNamespace("shop").resource(pod("shop", "web-1", "node-a", "nginx", "aaa111")).create();
    gate.forbidden = true;
    watch("node-a");
    Thread.sleep(500);
    assertThat(pods.container("aaa111")).isEmpty();
    assertThat(pods.watching()).isFalse();

    gate.forbidden = false; // RBAC fixed: the informer's retries find the pods
    await(() -> pods.container("aaa111").isPresent());
  }

  static void await(BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!condition.getAsBoolean()) {
      assertThat(System.nanoTime()).as("condition not met in 30 s").isLessThan(deadline);
      Thread.sleep(50);
    }
  }
}
