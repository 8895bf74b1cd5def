package dev.lamina.kube;

import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesCrudDispatcher;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import io.fabric8.mockwebserver.Context;
import io.fabric8.mockwebserver.MockWebServer;
import io.fabric8.mockwebserver.http.Dispatcher;
import io.fabric8.mockwebserver.http.MockResponse;
import io.fabric8.mockwebserver.http.RecordedRequest;
import io.fabric8.mockwebserver.http.WebSocket;
import io.fabric8.mockwebserver.http.WebSocketListener;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;

/**
 * fabric8's mock API server in CRUD mode behind a gate that can answer 403 (RBAC missing) or
 * expire the next watch, with an admin client and a relay (for clients under test) that can drop
 * connections.
 */
public final class MockApiServer implements AutoCloseable {
  /** The CRUD dispatcher, or 403 Forbidden for everything while {@code forbidden}. */
  public static final class Gate extends Dispatcher {
    final KubernetesCrudDispatcher crud = new KubernetesCrudDispatcher();
    public volatile boolean forbidden;
    /** The next watch is answered 410 Gone, as by an API server whose event history was compacted. */
    public volatile boolean expireNextWatch;

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

  public final Gate gate = new Gate();
  public final KubernetesMockServer server;
  public final KubernetesClient admin;
  public final DroppingRelay relay;

  public MockApiServer() throws IOException {
    server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), gate, false);
    server.init();
    admin = server.createClient();
    relay = new DroppingRelay(server.getPort());
  }

  /** The API server, through the relay. */
  public String url() {
    return "http://127.0.0.1:" + relay.port();
  }

  /** A kubeconfig for {@link #url} without credentials, as {@code --kubeconfig} takes it. */
  public Path kubeconfig(Path file) throws IOException {
    Files.writeString(file, """
        apiVersion: v1
        kind: Config
        clusters:
        - name: mock
          cluster:
            server: %s
        users:
        - name: lamina
          user: {}
        contexts:
        - name: mock
          context:
            cluster: mock
            user: lamina
        current-context: mock
        """.formatted(url()));
    return file;
  }

  /** A pod on {@code node} whose one container runs with containerd ID {@code id}. */
  public static Pod pod(String ns, String name, String node, String container, String id) {
    return pod(ns, name, node, container, "docker.io/library/nginx:1.27", id);
  }

  /** The same, running {@code image}. */
  public static Pod pod(String ns, String name, String node, String container, String image, String id) {
    return new PodBuilder().withNewMetadata().withNamespace(ns).withName(name).endMetadata()
        .withNewSpec().withNodeName(node).addNewContainer().withName(container).withImage(image).endContainer()
        .endSpec()
        .withNewStatus().withPhase("Running").withContainerStatuses(new ContainerStatusBuilder().withName(container)
            .withImage(image).withContainerID("containerd://" + id).withReady(true).build())
        .endStatus().build();
  }

  public void create(Pod pod) {
    admin.pods().inNamespace(pod.getMetadata().getNamespace()).resource(pod).create();
  }

  public void delete(String ns, String name) {
    admin.pods().inNamespace(ns).withName(name).delete();
  }

  @Override
  public void close() throws IOException {
    relay.close();
    admin.close();
    server.destroy();
  }
}
