package dev.lamina.cri;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.ByteString;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Descriptors.FileDescriptor;
import com.google.protobuf.Descriptors.MethodDescriptor;
import com.google.protobuf.Descriptors.ServiceDescriptor;
import dev.lamina.containerd.diff.v1.ApplyRequest;
import dev.lamina.containerd.diff.v1.DiffGrpc;
import dev.lamina.containerd.diff.v1.DiffProto;
import dev.lamina.containerd.snapshots.v1.CommitSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.SnapshotsGrpc;
import dev.lamina.containerd.snapshots.v1.SnapshotsProto;
import dev.lamina.containerd.types.DescriptorProto;
import dev.lamina.containerd.types.Mount;
import dev.lamina.containerd.types.MountProto;
import dev.lamina.cri.runtime.v1.Api;
import dev.lamina.cri.runtime.v1.Api.ImageSpec;
import dev.lamina.cri.runtime.v1.Api.PullImageRequest;
import dev.lamina.cri.runtime.v1.ImageServiceGrpc;
import dev.lamina.cri.runtime.v1.RuntimeServiceGrpc;
import io.grpc.MethodDescriptor.MethodType;
import java.io.InputStream;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Guards the vendored .proto files against accidental edits: full names, field numbers and RPC
 * lists must stay identical to upstream, otherwise kubelet/crictl/containerd stop interoperating.
 *
 * <p>Expected values were read from the upstream files: kubernetes/cri-api v0.36.3
 * (pkg/apis/runtime/v1/api.proto) and containerd v2.3.4 / api v1.11.1 (api/services/snapshots/v1,
 * api/services/diff/v1, api/types); the task events and Tasks service from containerd v1.6.20.
 */
class UpstreamProtoContractTest {

  // ---------------------------------------------------------------- files and packages

  @Test
  void protoFilesKeepUpstreamPathsAndPackages() {
    assertFile(Api.getDescriptor(), "runtime/v1/api.proto", "runtime.v1");
    assertFile(MountProto.getDescriptor(), "types/mount.proto", "containerd.types");
    assertFile(DescriptorProto.getDescriptor(), "types/descriptor.proto", "containerd.types");
    assertFile(
        SnapshotsProto.getDescriptor(),
        "services/snapshots/v1/snapshots.proto",
        "containerd.services.snapshots.v1");
    assertFile(DiffProto.getDescriptor(), "services/diff/v1/diff.proto", "containerd.services.diff.v1");

    assertThat(dependencyNames(SnapshotsProto.getDescriptor()))
        .containsExactly(
            "google/protobuf/empty.proto",
            "google/protobuf/field_mask.proto",
            "google/protobuf/timestamp.proto",
            "types/mount.proto");
    assertThat(dependencyNames(DiffProto.getDescriptor()))
        .containsExactly(
            "google/protobuf/any.proto",
            "google/protobuf/timestamp.proto",
            "types/descriptor.proto",
            "types/mount.proto");
  }

  // ---------------------------------------------------------------- CRI runtime.v1

  @Test
  void criImageMessagesHaveUpstreamFieldNumbers() {
    assertFields(
        Api.PullImageRequest.getDescriptor(),
        "runtime.v1.PullImageRequest",
        "image=1", "auth=2", "sandbox_config=3");
    assertFields(Api.PullImageResponse.getDescriptor(), "runtime.v1.PullImageResponse", "image_ref=1");
    assertFields(
        Api.ImageSpec.getDescriptor(),
        "runtime.v1.ImageSpec",
        "image=1", "annotations=2", "user_specified_image=18", "runtime_handler=19", "image_ref=20");
    assertFields(
        Api.AuthConfig.getDescriptor(),
        "runtime.v1.AuthConfig",
        "username=1", "password=2", "auth=3", "server_address=4", "identity_token=5",
        "registry_token=6");
    assertFields(
        Api.ImageFsInfoResponse.getDescriptor(),
        "runtime.v1.ImageFsInfoResponse",
        "image_filesystems=1", "container_filesystems=2");
    assertFields(
        Api.FilesystemUsage.getDescriptor(),
        "runtime.v1.FilesystemUsage",
        "timestamp=1", "fs_id=2", "used_bytes=3", "inodes_used=4");
    assertFields(
        Api.FilesystemIdentifier.getDescriptor(), "runtime.v1.FilesystemIdentifier", "mountpoint=1");
    assertFields(
        Api.Image.getDescriptor(),
        "runtime.v1.Image",
        "id=1", "repo_tags=2", "repo_digests=3", "size=4", "uid=5", "username=6", "spec=7",
        "pinned=8");
    assertFields(
        Api.ImageStatusRequest.getDescriptor(), "runtime.v1.ImageStatusRequest", "image=1", "verbose=2");
    assertFields(
        Api.ImageStatusResponse.getDescriptor(), "runtime.v1.ImageStatusResponse", "image=1", "info=2");
    assertFields(Api.RemoveImageRequest.getDescriptor(), "runtime.v1.RemoveImageRequest", "image=1");
    assertFields(Api.ListImagesRequest.getDescriptor(), "runtime.v1.ListImagesRequest", "filter=1");
    assertFields(Api.ListImagesResponse.getDescriptor(), "runtime.v1.ListImagesResponse", "images=1");
    assertFields(Api.ImageFilter.getDescriptor(), "runtime.v1.ImageFilter", "image=1");

    // Credentials are marked debug_redact upstream; the option must survive.
    FieldDescriptor password = Api.AuthConfig.getDescriptor().findFieldByName("password");
    assertThat(password.getOptions().getDebugRedact()).isTrue();
    assertThat(Api.AuthConfig.getDescriptor().findFieldByName("username").getOptions().getDebugRedact())
        .isFalse();
  }

  @Test
  void criImageServiceHasUpstreamNameAndMethods() {
    ServiceDescriptor svc = Api.getDescriptor().findServiceByName("ImageService");
    assertThat(svc.getFullName()).isEqualTo("runtime.v1.ImageService");
    assertThat(methodNames(svc))
        .containsExactly(
            "ListImages", "StreamImages", "ImageStatus", "PullImage", "RemoveImage", "ImageFsInfo");
    assertMethod(svc, "PullImage", "runtime.v1.PullImageRequest", "runtime.v1.PullImageResponse");
    assertMethod(svc, "ImageFsInfo", "runtime.v1.ImageFsInfoRequest", "runtime.v1.ImageFsInfoResponse");
    assertThat(svc.findMethodByName("StreamImages").isServerStreaming()).isTrue();

    io.grpc.ServiceDescriptor grpc = ImageServiceGrpc.getServiceDescriptor();
    assertThat(grpc.getName()).isEqualTo("runtime.v1.ImageService");
    assertThat(ImageServiceGrpc.getPullImageMethod().getFullMethodName())
        .isEqualTo("runtime.v1.ImageService/PullImage");
    assertThat(ImageServiceGrpc.getImageFsInfoMethod().getFullMethodName())
        .isEqualTo("runtime.v1.ImageService/ImageFsInfo");
    assertThat(ImageServiceGrpc.getStreamImagesMethod().getType()).isEqualTo(MethodType.SERVER_STREAMING);
    assertThat(grpcMethodNames(grpc))
        .containsExactlyInAnyOrder(
            "runtime.v1.ImageService/ListImages",
            "runtime.v1.ImageService/StreamImages",
            "runtime.v1.ImageService/ImageStatus",
            "runtime.v1.ImageService/PullImage",
            "runtime.v1.ImageService/RemoveImage",
            "runtime.v1.ImageService/ImageFsInfo");
  }

  @Test
  void criRuntimeServiceHasUpstreamNameAndMethods() {
    ServiceDescriptor svc = Api.getDescriptor().findServiceByName("RuntimeService");
    assertThat(svc.getFullName()).isEqualTo("runtime.v1.RuntimeService");
    assertThat(methodNames(svc))
        .containsExactly(
            "Version", "RunPodSandbox", "StopPodSandbox", "RemovePodSandbox", "PodSandboxStatus",
            "ListPodSandbox", "StreamPodSandboxes", "CreateContainer", "StartContainer",
            "StopContainer", "RemoveContainer", "ListContainers", "StreamContainers",
            "ContainerStatus", "UpdateContainerResources", "ReopenContainerLog", "ExecSync", "Exec",
            "Attach", "PortForward", "ContainerStats", "ListContainerStats", "StreamContainerStats",
            "PodSandboxStats", "ListPodSandboxStats", "StreamPodSandboxStats", "UpdateRuntimeConfig",
            "Status", "CheckpointContainer", "GetContainerEvents", "ListMetricDescriptors",
            "ListPodSandboxMetrics", "StreamPodSandboxMetrics", "RuntimeConfig",
            "UpdatePodSandboxResources");
    assertThat(RuntimeServiceGrpc.getServiceDescriptor().getName()).isEqualTo("runtime.v1.RuntimeService");
    assertThat(RuntimeServiceGrpc.getVersionMethod().getFullMethodName())
        .isEqualTo("runtime.v1.RuntimeService/Version");
  }

  @Test
  void pullImageRequestWireBytesMatchUpstreamNumbering() throws Exception {
    PullImageRequest req =
        PullImageRequest.newBuilder()
            .setImage(ImageSpec.newBuilder().setImage("busybox"))
            .setAuth(Api.AuthConfig.newBuilder().setUsername("u"))
            .build();
    // field 1 (image, LEN) { field 1 (image, LEN) "busybox" }, field 2 (auth, LEN) { field 1 "u" }
    byte[] expected = {
      0x0a, 9, 0x0a, 7, 'b', 'u', 's', 'y', 'b', 'o', 'x',
      0x12, 3, 0x0a, 1, 'u'
    };
    assertThat(req.toByteArray()).containsExactly(expected);

    // Round trip through the grpc-java marshaller (grpc-protobuf on this protobuf-java runtime).
    io.grpc.MethodDescriptor<PullImageRequest, Api.PullImageResponse> m =
        ImageServiceGrpc.getPullImageMethod();
    try (InputStream in = m.streamRequest(req)) {
      assertThat(m.parseRequest(in)).isEqualTo(req);
    }
  }

  // ---------------------------------------------------------------- containerd

  @Test
  void containerdTypesHaveUpstreamFieldNumbers() {
    assertFields(
        Mount.getDescriptor(), "containerd.types.Mount", "type=1", "source=2", "target=3", "options=4");
    assertFields(
        dev.lamina.containerd.types.Descriptor.getDescriptor(),
        "containerd.types.Descriptor",
        "media_type=1", "digest=2", "size=3", "annotations=5");
    assertFields(
        dev.lamina.containerd.types.ActiveMount.getDescriptor(),
        "containerd.types.ActiveMount",
        "mount=1", "mounted_at=2", "mount_point=3", "data=4");
  }

  @Test
  void snapshotsMessagesHaveUpstreamFieldNumbers() {
    assertFields(
        CommitSnapshotRequest.getDescriptor(),
        "containerd.services.snapshots.v1.CommitSnapshotRequest",
        "snapshotter=1", "name=2", "key=3", "labels=4", "parent=5");
    assertFields(
        dev.lamina.containerd.snapshots.v1.PrepareSnapshotRequest.getDescriptor(),
        "containerd.services.snapshots.v1.PrepareSnapshotRequest",
        "snapshotter=1", "key=2", "parent=3", "labels=4");
    assertFields(
        dev.lamina.containerd.snapshots.v1.Info.getDescriptor(),
        "containerd.services.snapshots.v1.Info",
        "name=1", "parent=2", "kind=3", "created_at=4", "updated_at=5", "labels=6");
    assertFields(
        dev.lamina.containerd.snapshots.v1.UpdateSnapshotRequest.getDescriptor(),
        "containerd.services.snapshots.v1.UpdateSnapshotRequest",
        "snapshotter=1", "info=2", "update_mask=3");
    assertFields(
        dev.lamina.containerd.snapshots.v1.UsageResponse.getDescriptor(),
        "containerd.services.snapshots.v1.UsageResponse",
        "size=1", "inodes=2");
    assertThat(
            dev.lamina.containerd.snapshots.v1.Kind.getDescriptor().getValues().stream()
                .map(v -> v.getName() + "=" + v.getNumber())
                .collect(Collectors.toList()))
        .containsExactly("UNKNOWN=0", "VIEW=1", "ACTIVE=2", "COMMITTED=3");

    // parent=5 -> tag (5 << 3 | 2) = 0x2a
    byte[] wire = CommitSnapshotRequest.newBuilder().setParent("p").build().toByteArray();
    assertThat(wire).containsExactly(0x2a, 1, 'p');
  }

  @Test
  void snapshotsServiceHasUpstreamNameAndMethods() {
    ServiceDescriptor svc = SnapshotsProto.getDescriptor().findServiceByName("Snapshots");
    assertThat(svc.getFullName()).isEqualTo("containerd.services.snapshots.v1.Snapshots");
    assertThat(methodNames(svc))
        .containsExactly(
            "Prepare", "View", "Mounts", "Commit", "Remove", "Stat", "Update", "List", "Usage",
            "Cleanup");
    assertMethod(
        svc,
        "Commit",
        "containerd.services.snapshots.v1.CommitSnapshotRequest",
        "google.protobuf.Empty");
    assertThat(svc.findMethodByName("List").isServerStreaming()).isTrue();

    assertThat(SnapshotsGrpc.getServiceDescriptor().getName())
        .isEqualTo("containerd.services.snapshots.v1.Snapshots");
    assertThat(SnapshotsGrpc.getPrepareMethod().getFullMethodName())
        .isEqualTo("containerd.services.snapshots.v1.Snapshots/Prepare");
    assertThat(SnapshotsGrpc.getListMethod().getType()).isEqualTo(MethodType.SERVER_STREAMING);
    assertThat(grpcMethodNames(SnapshotsGrpc.getServiceDescriptor())).hasSize(10);
  }

  @Test
  void diffMessagesAndServiceMatchUpstream() {
    assertFields(
        ApplyRequest.getDescriptor(),
        "containerd.services.diff.v1.ApplyRequest",
        "diff=1", "mounts=2", "payloads=3", "sync_fs=4");
    assertFields(
        dev.lamina.containerd.diff.v1.ApplyResponse.getDescriptor(),
        "containerd.services.diff.v1.ApplyResponse",
        "applied=1");
    assertFields(
        dev.lamina.containerd.diff.v1.DiffRequest.getDescriptor(),
        "containerd.services.diff.v1.DiffRequest",
        "left=1", "right=2", "media_type=3", "ref=4", "labels=5", "source_date_epoch=6");
    assertFields(
        dev.lamina.containerd.diff.v1.DiffResponse.getDescriptor(),
        "containerd.services.diff.v1.DiffResponse",
        "diff=3");
    assertThat(ApplyRequest.getDescriptor().findFieldByName("payloads").getMessageType()
            .findFieldByName("value").getMessageType().getFullName())
        .isEqualTo("google.protobuf.Any");

    ServiceDescriptor svc = DiffProto.getDescriptor().findServiceByName("Diff");
    assertThat(svc.getFullName()).isEqualTo("containerd.services.diff.v1.Diff");
    assertThat(methodNames(svc)).containsExactly("Apply", "Diff");
    assertMethod(
        svc,
        "Apply",
        "containerd.services.diff.v1.ApplyRequest",
        "containerd.services.diff.v1.ApplyResponse");
    assertThat(DiffGrpc.getServiceDescriptor().getName()).isEqualTo("containerd.services.diff.v1.Diff");
    assertThat(DiffGrpc.getApplyMethod().getFullMethodName())
        .isEqualTo("containerd.services.diff.v1.Diff/Apply");

    // mounts=2 of type containerd.types.Mount: tag 0x12
    byte[] wire =
        ApplyRequest.newBuilder()
            .addMounts(Mount.newBuilder().setType("overlay"))
            .build()
            .toByteArray();
    assertThat(wire).startsWith(0x12, 9, 0x0a, 7);
    assertThat(ByteString.copyFrom(wire, 4, 7).toStringUtf8()).isEqualTo("overlay");
  }

  /** containerd v1.6.20: api/events/task.proto, api/services/tasks/v1, api/types/task. */
  @Test
  void containerdTaskEventsAndTaskListMatchUpstream() {
    assertFile(dev.lamina.containerd.events.TaskEventsProto.getDescriptor(), "events/task.proto",
        "containerd.events");
    assertFields(dev.lamina.containerd.events.TaskStart.getDescriptor(), "containerd.events.TaskStart",
        "container_id=1", "pid=2");
    assertFields(dev.lamina.containerd.events.TaskExit.getDescriptor(), "containerd.events.TaskExit",
        "container_id=1", "id=2", "pid=3", "exit_status=4", "exited_at=5");
    assertFile(dev.lamina.containerd.tasks.v1.TasksProto.getDescriptor(), "services/tasks/v1/tasks.proto",
        "containerd.services.tasks.v1");
    assertFields(dev.lamina.containerd.tasks.v1.ListTasksRequest.getDescriptor(),
        "containerd.services.tasks.v1.ListTasksRequest", "filter=1");
    assertFields(dev.lamina.containerd.tasks.v1.ListTasksResponse.getDescriptor(),
        "containerd.services.tasks.v1.ListTasksResponse", "tasks=1");
    assertFields(dev.lamina.containerd.types.task.Process.getDescriptor(), "containerd.v1.types.Process",
        "container_id=1", "id=2", "pid=3", "status=4", "stdin=5", "stdout=6", "stderr=7", "terminal=8",
        "exit_status=9", "exited_at=10");
    assertThat(dev.lamina.containerd.types.task.Status.STOPPED.getNumber()).isEqualTo(3);
    assertThat(dev.lamina.containerd.tasks.v1.TasksGrpc.getListMethod().getFullMethodName())
        .isEqualTo("containerd.services.tasks.v1.Tasks/List");
  }

  // ---------------------------------------------------------------- helpers

  private static void assertFile(FileDescriptor file, String name, String pkg) {
    assertThat(file.getName()).isEqualTo(name);
    assertThat(file.getPackage()).isEqualTo(pkg);
    assertThat(file.toProto().getSyntax()).isEqualTo("proto3");
  }

  /** Asserts the message's full name and its exact set of fields as "name=number". */
  private static void assertFields(Descriptor message, String fullName, String... fields) {
    assertThat(message.getFullName()).isEqualTo(fullName);
    assertThat(
            message.getFields().stream()
                .map(f -> f.getName() + "=" + f.getNumber())
                .collect(Collectors.toList()))
        .as("fields of %s", fullName)
        .containsExactlyInAnyOrder(fields);
  }

  private static void assertMethod(
      ServiceDescriptor svc, String name, String inputType, String outputType) {
    MethodDescriptor m = svc.findMethodByName(name);
    assertThat(m).as("%s.%s", svc.getFullName(), name).isNotNull();
    assertThat(m.getInputType().getFullName()).isEqualTo(inputType);
    assertThat(m.getOutputType().getFullName()).isEqualTo(outputType);
    assertThat(m.isClientStreaming()).isFalse();
    assertThat(m.isServerStreaming()).isFalse();
  }

  private static List<String> methodNames(ServiceDescriptor svc) {
    return svc.getMethods().stream().map(MethodDescriptor::getName).collect(Collectors.toList());
  }

  private static List<String> grpcMethodNames(io.grpc.ServiceDescriptor svc) {
    return svc.getMethods().stream()
        .map(io.grpc.MethodDescriptor::getFullMethodName)
        .collect(Collectors.toList());
  }

  private static List<String> dependencyNames(FileDescriptor file) {
    return file.getDependencies().stream().map(FileDescriptor::getName).collect(Collectors.toList());
  }
}
