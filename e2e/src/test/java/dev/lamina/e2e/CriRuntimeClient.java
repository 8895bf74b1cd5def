package dev.lamina.e2e;

import dev.lamina.cri.runtime.v1.Api;
import dev.lamina.cri.runtime.v1.RuntimeServiceGrpc;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A blocking client of the CRI {@code runtime.v1.RuntimeService} on containerd's socket, calling
 * it in kubelet's order: {@code RunPodSandbox}, {@code CreateContainer}, {@code StartContainer},
 * then {@code StopContainer}, {@code RemoveContainer}, {@code StopPodSandbox}, {@code
 * RemovePodSandbox}. Failures are gRPC {@code StatusRuntimeException}s.
 */
final class CriRuntimeClient implements AutoCloseable {
  private static final Duration CALL_DEADLINE = Duration.ofMinutes(2);

  /** What {@code ExecSync} returned. */
  record Exec(int exitCode, String stdout, String stderr) {}

  private final UnixSocketChannel channel;
  private final RuntimeServiceGrpc.RuntimeServiceBlockingStub stub;

  private CriRuntimeClient(Path socket) {
    channel = UnixSocketChannel.open(socket);
    stub = RuntimeServiceGrpc.newBlockingStub(channel.channel());
  }

  static CriRuntimeClient connect(Path socket) {
    return new CriRuntimeClient(socket);
  }

  private RuntimeServiceGrpc.RuntimeServiceBlockingStub call() {
    return stub.withDeadlineAfter(CALL_DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** {@code Version}: the runtime's name and version, e.g. {@code containerd v1.6.20}. */
  String version() {
    Api.VersionResponse v = call().version(Api.VersionRequest.newBuilder().setVersion("v1").build());
    return v.getRuntimeName() + " " + v.getRuntimeVersion();
  }

  /**
   * A pod as kubelet describes one: metadata, hostname, its log directory, and a linux config whose
   * network, PID and IPC namespaces are the pod's own.
   */
  static Api.PodSandboxConfig pod(String name, String uid, String namespace, String hostname, Path logDirectory) {
    Api.NamespaceOption namespaces = Api.NamespaceOption.newBuilder()
        .setNetwork(Api.NamespaceMode.POD)
        .setPid(Api.NamespaceMode.CONTAINER)
        .setIpc(Api.NamespaceMode.POD)
        .build();
    return Api.PodSandboxConfig.newBuilder()
        .setMetadata(Api.PodSandboxMetadata.newBuilder().setName(name).setUid(uid).setNamespace(namespace)
            .setAttempt(0))
        .setHostname(hostname)
        .setLogDirectory(logDirectory.toString())
        .putLabels("io.kubernetes.pod.name", name)
        .putLabels("io.kubernetes.pod.namespace", namespace)
        .putLabels("io.kubernetes.pod.uid", uid)
        .setLinux(Api.LinuxPodSandboxConfig.newBuilder()
            .setSecurityContext(Api.LinuxSandboxSecurityContext.newBuilder().setNamespaceOptions(namespaces)))
        .build();
  }

  /** A container of {@code image} running {@code command}, logging to {@code logPath} (relative to the pod's log directory). */
  static Api.ContainerConfig container(String name, String image, List<String> command, String logPath) {
    return Api.ContainerConfig.newBuilder()
        .setMetadata(Api.ContainerMetadata.newBuilder().setName(name).setAttempt(0))
        .setImage(Api.ImageSpec.newBuilder().setImage(image))
        .addAllCommand(command)
        .setLogPath(logPath)
        .putLabels("io.kubernetes.container.name", name)
        .build();
  }

  /** {@code RunPodSandbox}: the sandbox's ID. */
  String runPodSandbox(Api.PodSandboxConfig config) {
    return call().runPodSandbox(Api.RunPodSandboxRequest.newBuilder().setConfig(config).build()).getPodSandboxId();
  }

  Api.PodSandboxStatus podSandboxStatus(String podId) {
    return call().podSandboxStatus(Api.PodSandboxStatusRequest.newBuilder().setPodSandboxId(podId).build())
        .getStatus();
  }

  List<Api.PodSandbox> listPodSandboxes() {
    return call().listPodSandbox(Api.ListPodSandboxRequest.getDefaultInstance()).getItemsList();
  }

  /** {@code CreateContainer} in the pod: the container's ID. */
  String createContainer(String podId, Api.ContainerConfig config, Api.PodSandboxConfig pod) {
    return call().createContainer(Api.CreateContainerRequest.newBuilder().setPodSandboxId(podId).setConfig(config)
        .setSandboxConfig(pod).build()).getContainerId();
  }

  void startContainer(String containerId) {
    call().startContainer(Api.StartContainerRequest.newBuilder().setContainerId(containerId).build());
  }

  Api.ContainerStatus containerStatus(String containerId) {
    return call().containerStatus(Api.ContainerStatusRequest.newBuilder().setContainerId(containerId).build())
        .getStatus();
  }

  /** {@code ContainerStatus} with {@code verbose}: its info map ({@code info} holds JSON with the pid). */
  java.util.Map<String, String> containerStatusVerbose(String containerId) {
    return call().containerStatus(Api.ContainerStatusRequest.newBuilder().setContainerId(containerId).setVerbose(true)
        .build()).getInfoMap();
  }


  List<Api.Container> listContainers() {
    return call().listContainers(Api.ListContainersRequest.getDefaultInstance()).getContainersList();
  }

  /** {@code ExecSync} of {@code cmd} in the container, killed after {@code timeout}. */
  Exec execSync(String containerId, Duration timeout, String... cmd) {
    Api.ExecSyncResponse r = stub.withDeadlineAfter(timeout.plusSeconds(30).toMillis(), TimeUnit.MILLISECONDS)
        .execSync(Api.ExecSyncRequest.newBuilder().setContainerId(containerId).addAllCmd(List.of(cmd))
            .setTimeout(timeout.toSeconds()).build());
    return new Exec(r.getExitCode(), r.getStdout().toString(StandardCharsets.UTF_8),
        r.getStderr().toString(StandardCharsets.UTF_8));
  }

  Api.ContainerStats containerStats(String containerId) {
    return call().containerStats(Api.ContainerStatsRequest.newBuilder().setContainerId(containerId).build())
        .getStats();
  }

  /** {@code StopContainer}: SIGTERM (or the image's stop signal), SIGKILL after {@code grace}. */
  void stopContainer(String containerId, Duration grace) {
    call().stopContainer(Api.StopContainerRequest.newBuilder().setContainerId(containerId)
        .setTimeout(grace.toSeconds()).build());
  }

  void removeContainer(String containerId) {
    call().removeContainer(Api.RemoveContainerRequest.newBuilder().setContainerId(containerId).build());
  }

  void stopPodSandbox(String podId) {
    call().stopPodSandbox(Api.StopPodSandboxRequest.newBuilder().setPodSandboxId(podId).build());
  }

  void removePodSandbox(String podId) {
    call().removePodSandbox(Api.RemovePodSandboxRequest.newBuilder().setPodSandboxId(podId).build());
  }

  @Override
  public void close() {
    channel.close();
  }
}
