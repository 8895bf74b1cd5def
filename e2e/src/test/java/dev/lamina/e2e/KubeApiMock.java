package dev.lamina.e2e;

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
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;

/**
 * fabric8's mock API server in CRUD mode, as the API server of a node's pods for {@code lamina
 * serve --kubeconfig}. The CRUD mock matches field selectors on metadata only; lamina asks for
 * {@code spec.nodeName}, which this drops, so every pod is answered (lamina checks the node itself).
 */
final class KubeApiMock implements AutoCloseable {
  private static final class NodeSelectorIgnored extends Dispatcher {
    final KubernetesCrudDispatcher crud = new KubernetesCrudDispatcher();

    @Override
    public MockResponse dispatch(RecordedRequest request) {
      String path = request.getPath().replaceAll("fieldSelector=spec\\.nodeName%3D[^&]*&?", "");
      return crud.dispatch(new RecordedRequest(request.getHttpVersion(), request.method(), path,
          request.getHeaders(), request.getBody()));
    }
  }

  private final KubernetesMockServer server;
  private final KubernetesClient admin;

  KubeApiMock() {
    server = new KubernetesMockServer(new Context(), new MockWebServer(), new HashMap<>(), new NodeSelectorIgnored(),
        false);
    server.init();
    admin = server.createClient();
  }

  /** A kubeconfig for this server without credentials. */
  Path kubeconfig(Path file) throws IOException {
    Files.writeString(file, """
        apiVersion: v1
        kind: Config
        clusters:
        - name: mock
          cluster:
            server: http://127.0.0.1:%d
        users:
        - name: lamina
          user: {}
        contexts:
        - name: mock
          context:
            cluster: mock
            user: lamina
        current-context: mock
        """.formatted(server.getPort()));
    return file;
  }

  /** Creates a running pod on {@code node} whose one container has containerd ID {@code id}. */
  void createPod(String ns, String name, String node, String container, String image, String id) {
    Pod pod = new PodBuilder().withNewMetadata().withNamespace(ns).withName(name).endMetadata()
        .withNewSpec().withNodeName(node).addNewContainer().withName(container).withImage(image).endContainer()
        .endSpec()
        .withNewStatus().withPhase("Running").withContainerStatuses(new ContainerStatusBuilder().withName(container)
            .withImage(image).withContainerID("containerd://" + id).withReady(true).build())
        .endStatus().build();
    admin.pods().inNamespace(ns).resource(pod).create();
  }

  @Override
  public void close() {
    admin.close();
    server.destroy();
  }
}
