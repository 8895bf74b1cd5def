package dev.lamina.e2e;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lamina.cri.runtime.v1.Api;
import dev.lamina.helm.Chart;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * lamina's container image, as the chart's DaemonSet (pod mode) runs it: the image is imported into
 * a real containerd, and the DaemonSet's pod spec, rendered by Helm, is translated to the CRI calls
 * kubelet would make (host network, privileged, the same mounts with their propagation, the same
 * command, arguments and environment; its init container first). In the pod, lamina serves: its
 * CRI socket answers a pull, which it registers in containerd through the socket the chart mounts,
 * its readiness endpoint answers, and SIGTERM (StopContainer) ends it cleanly.
 *
 * <p>Needs the image ({@code mvn -Pimage}, which the build runs as root before this module); skips
 * with a reason without it. Prints the time from StartContainer to the CRI socket and the pod's
 * resident memory when idle (figures, not assertions).
 */
class DaemonSetPodTest {
  private static final Path IMAGE = ContainerdHarness.projectRoot().resolve("deploy/target/lamina-image.tar");
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Duration READY = Duration.ofSeconds(60);

  @TempDir static Path tmp;
  private static DockerRegistry registry;
  private static CriNode node;
  private static String pauseRef;
  private static String busyboxRef;
  private static ContainerdTestImages.Built busybox;

  @BeforeAll
  static void start() throws Exception {
    assumeTrue(Files.isRegularFile(IMAGE), IMAGE + " is missing: build the image first (mvn -Pimage, as root)");
    CriNode.assumeUsable(tmp.resolve("probe"));
    Umoci.assumeInstalled();
    assumeTrue(DockerRegistry.installed(), DockerRegistry.MISSING);
    assumeTrue(ContainerdTestImages.busyboxIsStatic(), ContainerdTestImages.BUSYBOX + " is missing or not static");
    registry = DockerRegistry.start(tmp.resolve("registry"));
    ContainerdTestImages.Built pause = ContainerdTestImages.pause(tmp.resolve("pause"), "1");
    busybox = ContainerdTestImages.busybox(tmp.resolve("busybox"), "1");
    pauseRef = registry.push(pause.layout(), pause.tag(), "test/pause");
    busyboxRef = registry.push(busybox.layout(), busybox.tag(), "test/pulled-in-the-pod");
    // containerd runs the lamina pod on its own overlayfs; its proxy plugin "lamina" is the pod's lamina
    node = CriNode.start(tmp.resolve("node"), registry.host(), pauseRef, false, "overlayfs",
        tmp.resolve("host/run/lamina/snapshotter.sock"));
  }

  @AfterAll
  static void stop() throws IOException {
    ContainerdHarness.closeAllThenUnmount(tmp, node, registry);
  }

  /** containerd's CRI looks images up by their normalized name: docker.io/library/lamina:VERSION. */
  private static String importImage() throws IOException {
    String sock = node.containerdSocket().toString();
    String out = Commands.run(null, Duration.ofMinutes(3), List.of("ctr", "-a", sock, "-n", CriNode.NAMESPACE,
        "images", "import", "--all-platforms", IMAGE.toString())).check().stdout();
    String name = Commands.run("ctr", "-a", sock, "-n", CriNode.NAMESPACE, "images", "ls", "-q").check().stdout()
        .lines().filter(l -> l.startsWith("lamina:") || l.contains("/lamina:")).findFirst()
        .orElseThrow(() -> new AssertionError("no lamina image after import: " + out));
    String normalized = name.startsWith("docker.io/") ? name : "docker.io/library/" + name;
    if (!normalized.equals(name)) {
      Commands.run("ctr", "-a", sock, "-n", CriNode.NAMESPACE, "images", "tag", name, normalized).check();
    }
    return normalized;
  }

  @Test
  void theDaemonSetsPodServesAnswersAPullAndStopsCleanly() throws Exception {
    String image = importImage();
    // Bidirectional propagation needs a shared mount under the host paths, as / is on a systemd node
    Path host = Files.createDirectories(tmp.resolve("host"));
    Commands.run("mount", "--bind", host.toString(), host.toString()).check();
    Commands.run("mount", "--make-rshared", host.toString()).check();
    Path state = Files.createDirectories(host.resolve("var/lib/lamina"));
    Path run = Files.createDirectories(host.resolve("run/lamina"));
    Path containerdConfig = Files.createDirectories(host.resolve("etc/containerd"));
    int metricsPort = PrometheusServer.freePort();
    Chart.Rendered chart = Chart.render(
        "mode", "pod",
        "image.repository", image.substring(0, image.lastIndexOf(':')),
        "image.tag", image.substring(image.lastIndexOf(':') + 1),
        "host.stateDir", state.toString(),
        "host.runDir", run.toString(),
        "config.root", state.toString(),
        "config.socket", run.resolve("lamina.sock").toString(),
        "config.snapshotter-socket", run.resolve("snapshotter.sock").toString(),
        "config.pinned-image[0]", pauseRef,
        "containerd.socket", node.containerdSocket().toString(),
        "containerd.configDir", containerdConfig.toString(),
        "metrics.port", metricsPort);
    PodSpec spec = chart.daemonSet().getSpec().getTemplate().getSpec();
    assertThat(spec.getHostNetwork()).isTrue();
    Path chartFiles = Files.createDirectories(host.resolve("chart"));
    for (Map.Entry<String, String> f : chart.configMap().getData().entrySet()) {
      Path p = chartFiles.resolve(f.getKey());
      Files.writeString(p, f.getValue());
      Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
    }
    Map<String, Path> volumes = new LinkedHashMap<>();
    for (Volume v : spec.getVolumes()) {
      if (v.getHostPath() != null) {
        volumes.put(v.getName(), Path.of(v.getHostPath().getPath()));
      } else if (v.getConfigMap() != null) {
        volumes.put(v.getName(), chartFiles);
      }
    }

    CriRuntimeClient cri = node.runtime();
    Api.PodSandboxConfig pod = hostNetworkPod(spec);
    String podId = cri.runPodSandbox(pod);
    for (Container init : spec.getInitContainers()) {
      String id = cri.createContainer(podId, container(init, image, volumes, "init.log"), pod);
      cri.startContainer(id);
      Api.ContainerStatus s = awaitExit(cri, id, Duration.ofMinutes(2));
      assertThat(s.getExitCode()).as("init container %s: %s", init.getName(), log(pod, "init.log")).isZero();
    }
    Container main = spec.getContainers().stream().filter(c -> c.getName().equals("lamina")).findFirst().orElseThrow();
    String id = cri.createContainer(podId, container(main, image, volumes, "lamina.log"), pod);
    long started = System.nanoTime();
    cri.startContainer(id);
    Path socket = run.resolve("lamina.sock");
    while (!ContainerdLaminaProcess.accepts(socket)) {
      assertThat(cri.containerStatus(id).getState()).as("lamina in its pod: %s", log(pod, "lamina.log"))
          .isEqualTo(Api.ContainerState.CONTAINER_RUNNING);
      assertThat(Duration.ofNanos(System.nanoTime() - started)).as("CRI socket ready").isLessThan(READY);
      Thread.sleep(20);
    }
    long readyMillis = (System.nanoTime() - started) / 1_000_000;

    try (CriImagesClient images = CriImagesClient.connect(socket)) {
      String pulled = images.pull(busyboxRef, null, Duration.ofMinutes(2));
      assertThat(pulled).isEqualTo(busybox.image().configDigest());
    }
    assertThat(Commands.run("ctr", "-a", node.containerdSocket().toString(), "-n", CriNode.NAMESPACE, "images",
        "ls", "-q").check().stdout()).as("registered in containerd through the mounted socket").contains(busyboxRef);
    HttpResponse<String> ready = HttpClient.newHttpClient().send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + metricsPort + "/readyz")).build(),
        HttpResponse.BodyHandlers.ofString());
    assertThat(ready.statusCode()).as("readiness probe: %s", ready.body()).isEqualTo(200);

    Thread.sleep(10_000);
    long rssKiB = rssOfJava(cri, id);
    System.out.printf("lamina's pod: CRI socket ready %d ms after StartContainer; idle RSS %.1f MiB%n", readyMillis,
        rssKiB / 1024.0);

    cri.stopContainer(id, Duration.ofSeconds(60));
    Api.ContainerStatus stopped = cri.containerStatus(id);
    assertThat(stopped.getState()).isEqualTo(Api.ContainerState.CONTAINER_EXITED);
    assertThat(stopped.getExitCode()).as("exit on SIGTERM: %s", log(pod, "lamina.log")).isZero();
    assertThat(socket).as("the socket is removed on a clean stop").doesNotExist();
    cri.stopPodSandbox(podId);
    cri.removePodSandbox(podId);
  }

  /** The pod as kubelet asks for it: host network (the chart's), the pod's own PID namespace. */
  private static Api.PodSandboxConfig hostNetworkPod(PodSpec spec) throws IOException {
    Api.PodSandboxConfig base = CriRuntimeClient.pod("lamina-test", UUID.randomUUID().toString(), Chart.NAMESPACE,
        "node", Files.createDirectories(tmp.resolve("pod-logs")));
    Api.NamespaceOption namespaces = Api.NamespaceOption.newBuilder()
        .setNetwork(Boolean.TRUE.equals(spec.getHostNetwork()) ? Api.NamespaceMode.NODE : Api.NamespaceMode.POD)
        .setPid(Boolean.TRUE.equals(spec.getHostPID()) ? Api.NamespaceMode.NODE : Api.NamespaceMode.CONTAINER)
        .setIpc(Api.NamespaceMode.POD)
        .build();
    Api.PodSandboxConfig.Builder b = base.toBuilder();
    if (Boolean.TRUE.equals(spec.getHostNetwork())) {
      b.clearHostname(); // the node's, as kubelet leaves it for a pod on the host network
    }
    return b.setLinux(Api.LinuxPodSandboxConfig.newBuilder()
        .setSecurityContext(Api.LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(namespaces)
            .setPrivileged(true))).build();
  }

  /** A container of the pod spec as kubelet turns it into CRI: command, args, env, privileges, mounts. */
  private static Api.ContainerConfig container(Container c, String image, Map<String, Path> volumes, String logPath) {
    List<String> command = c.getCommand() == null ? List.of() : c.getCommand();
    Api.ContainerConfig.Builder b = CriRuntimeClient.container(c.getName(), image, command, logPath).toBuilder();
    if (c.getArgs() != null) {
      b.addAllArgs(c.getArgs());
    }
    for (EnvVar e : c.getEnv() == null ? List.<EnvVar>of() : c.getEnv()) {
      String value = e.getValue();
      if (e.getValueFrom() != null && e.getValueFrom().getFieldRef() != null) {
        value = switch (e.getValueFrom().getFieldRef().getFieldPath()) {
          case "spec.nodeName" -> "node";
          case "metadata.namespace" -> Chart.NAMESPACE;
          default -> "";
        };
      }
      b.addEnvs(Api.KeyValue.newBuilder().setKey(e.getName())
          .setValue(com.google.protobuf.ByteString.copyFromUtf8(value == null ? "" : value)));
    }
    boolean privileged = c.getSecurityContext() != null && Boolean.TRUE.equals(c.getSecurityContext().getPrivileged());
    b.setLinux(Api.LinuxContainerConfig.newBuilder().setSecurityContext(
        Api.LinuxContainerSecurityContext.newBuilder().setPrivileged(privileged)
            .setNamespaceOptions(Api.NamespaceOption.newBuilder().setNetwork(Api.NamespaceMode.NODE)
                .setPid(Api.NamespaceMode.CONTAINER).setIpc(Api.NamespaceMode.POD))));
    for (VolumeMount m : c.getVolumeMounts()) {
      Path hostPath = volumes.get(m.getName());
      assertThat(hostPath).as("volume %s", m.getName()).isNotNull();
      Api.MountPropagation propagation = switch (m.getMountPropagation() == null ? "" : m.getMountPropagation()) {
        case "Bidirectional" -> Api.MountPropagation.PROPAGATION_BIDIRECTIONAL;
        case "HostToContainer" -> Api.MountPropagation.PROPAGATION_HOST_TO_CONTAINER;
        default -> Api.MountPropagation.PROPAGATION_PRIVATE;
      };
      b.addMounts(Api.Mount.newBuilder().setContainerPath(m.getMountPath()).setHostPath(hostPath.toString())
          .setReadonly(Boolean.TRUE.equals(m.getReadOnly())).setPropagation(propagation));
    }
    return b.build();
  }

  private static Api.ContainerStatus awaitExit(CriRuntimeClient cri, String id, Duration timeout) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      Api.ContainerStatus s = cri.containerStatus(id);
      if (s.getState() == Api.ContainerState.CONTAINER_EXITED) {
        return s;
      }
      assertThat(System.nanoTime()).as("container %s exits within %s", id, timeout).isLessThan(deadline);
      Thread.sleep(100);
    }
  }

  private static String log(Api.PodSandboxConfig pod, String name) {
    try {
      return Files.readString(Path.of(pod.getLogDirectory()).resolve(name));
    } catch (IOException e) {
      return "(no log: " + e.getMessage() + ")";
    }
  }

  /** The resident set of the container's java process (a child of node-setup.sh), from its status's pid. */
  private static long rssOfJava(CriRuntimeClient cri, String id) throws IOException {
    JsonNode info = JSON.readTree(cri.containerStatusVerbose(id).getOrDefault("info", "{}"));
    long pid = info.path("pid").asLong();
    List<ProcessHandle> all = new ArrayList<>();
    ProcessHandle.of(pid).ifPresent(p -> {
      all.add(p);
      p.descendants().forEach(all::add);
    });
    long rss = 0;
    for (ProcessHandle p : all) {
      if (p.info().command().orElse("").endsWith("/java")) {
        for (String line : Files.readAllLines(Path.of("/proc/" + p.pid() + "/status"))) {
          if (line.startsWith("VmRSS:")) {
            rss = Math.max(rss, Long.parseLong(line.replaceAll("\\D+", "")));
          }
        }
      }
    }
    return rss;
  }
}
