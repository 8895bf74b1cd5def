package dev.lamina.kube;

import static org.assertj.core.api.Assertions.assertThat;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The pods of a node from fabric8's mock API server in CRUD mode, which can also be told to answer
 * 403 (RBAC missing) and be reached through a relay that drops or silences the watch.
 */
class NodePodsTest {
  MockApiServer api;
  NodePods pods;
  final AtomicInteger changes = new AtomicInteger();

  @BeforeEach
  void start() throws Exception {
    api = new MockApiServer();
  }

  @AfterEach
  void stop() throws Exception {
    if (pods != null) {
      pods.close();
    }
    api.close();
  }

  /** NodePods for {@code node}, through the relay, reconnecting quickly, its watchdog checking every 200 ms. */
  NodePods watch(String node) {
    Config c = new ConfigBuilder(api.admin.getConfiguration()).withMasterUrl(api.url())
        .withWatchReconnectInterval(100).withWatchReconnectLimit(-1).withRequestRetryBackoffInterval(100)
        .withRequestRetryBackoffLimit(1).withRequestTimeout(2_000).build();
    pods = NodePods.watch(new KubernetesClientBuilder().withConfig(c).build(), node, changes::incrementAndGet,
        Duration.ofMillis(200));
    return pods;
  }

  @Test
  void containersOfThisNodesPodsAreFoundByTheirContainerdId() throws Exception {
    api.create(MockApiServer.pod("shop", "web-1", "node-a", "nginx", "aaa111"));
    api.create(MockApiServer.pod("shop", "web-2", "node-b", "nginx", "bbb222"));
    watch("node-a");
    await(() -> pods.container("aaa111").isPresent());
    assertThat(pods.container("aaa111"))
        .hasValue(new PodContainer("shop", "web-1", "nginx", "docker.io/library/nginx:1.27"));
    assertThat(pods.container("bbb222")).as("a pod of another node").isEmpty();

    api.create(MockApiServer.pod("shop", "web-3", "node-a", "app", "ccc333"));
    await(() -> pods.container("ccc333").isPresent());
    api.delete("shop", "web-1");
    await(() -> pods.container("aaa111").isEmpty());
    assertThat(pods.container("ccc333")).isPresent();
  }

  @Test
  void aPodDeletedWhileTheWatchIsDownIsGoneOnceItIsBack() throws Exception {
    api.create(MockApiServer.pod("shop", "web-1", "node-a", "nginx", "aaa111"));
    api.create(MockApiServer.pod("shop", "web-2", "node-a", "nginx", "bbb222"));
    watch("node-a");
    await(() -> pods.container("aaa111").isPresent() && pods.container("bbb222").isPresent() && pods.watching());

    api.relay.drop();
    // The mock keeps no event history: where an API server would replay the delete to the resumed
    // watch, or send 410 when it no longer has it, the mock sends 410 and the informer lists again.
    api.gate.expireNextWatch = true;
    api.delete("shop", "web-2");
    api.create(MockApiServer.pod("shop", "web-4", "node-a", "side", "ddd444"));
    Thread.sleep(300);
    api.relay.resume();

    await(() -> pods.container("bbb222").isEmpty() && pods.container("ddd444").isPresent());
    assertThat(pods.container("aaa111")).isPresent();
  }

  @Test
  void aWatchThatGoesSilentIsReplacedByTheWatchdog() throws Exception {
    api.create(MockApiServer.pod("shop", "web-1", "node-a", "nginx", "aaa111"));
    api.create(MockApiServer.pod("shop", "web-2", "node-b", "nginx", "bbb222"));
    watch("node-a");
    await(() -> pods.container("aaa111").isPresent() && pods.watching());

    // the watch's connection stays open and carries nothing: fabric8 goes on "watching" it
    api.relay.silence();
    api.delete("shop", "web-1");
    api.create(MockApiServer.pod("shop", "web-3", "node-a", "app", "ccc333"));

    await(() -> pods.container("aaa111").isEmpty() && pods.container("ccc333").isPresent());
    assertThat(pods.container("bbb222")).as("a pod of another node").isEmpty();
    api.create(MockApiServer.pod("shop", "web-4", "node-a", "side", "ddd444"));
    await(() -> pods.container("ddd444").isPresent()); // the new informer watches
  }

  @Test
  void anApiServerThatForbidsLeavesNoPodsUntilItAllows() throws Exception {
    api.create(MockApiServer.pod("shop", "web-1", "node-a", "nginx", "aaa111"));
    api.gate.forbidden = true;
    watch("node-a");
    Thread.sleep(500);
    assertThat(pods.container("aaa111")).isEmpty();
    assertThat(pods.watching()).isFalse();

    api.gate.forbidden = false; // RBAC fixed: the informer's retries find the pods
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
