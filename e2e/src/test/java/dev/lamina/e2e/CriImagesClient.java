package dev.lamina.e2e;

import dev.lamina.cri.runtime.v1.Api;
import dev.lamina.cri.runtime.v1.ImageServiceGrpc;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * A blocking client of the CRI {@code runtime.v1.ImageService} on lamina's CRI socket, as kubelet
 * and crictl call it. Failures are gRPC {@code StatusRuntimeException}s.
 */
final class CriImagesClient implements AutoCloseable {
  private final UnixSocketChannel channel;
  private final ImageServiceGrpc.ImageServiceBlockingStub stub;

  private CriImagesClient(Path socket) {
    channel = UnixSocketChannel.open(socket);
    stub = ImageServiceGrpc.newBlockingStub(channel.channel());
  }

  static CriImagesClient connect(Path criSocket) {
    return new CriImagesClient(criSocket);
  }

  /** {@code PullImage} with {@code auth} (null: none); returns the image ID. */
  String pull(String image, Api.AuthConfig auth, Duration deadline) {
    return pull(image, auth, null, deadline);
  }

  /** The same in the context of a pod sandbox ({@code sandbox_config}; null: none), as kubelet pulls. */
  String pull(String image, Api.AuthConfig auth, Api.PodSandboxConfig sandbox, Duration deadline) {
    Api.PullImageRequest.Builder req = Api.PullImageRequest.newBuilder()
        .setImage(Api.ImageSpec.newBuilder().setImage(image));
    if (auth != null) {
      req.setAuth(auth);
    }
    if (sandbox != null) {
      req.setSandboxConfig(sandbox);
    }
    return stub.withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS).pullImage(req.build()).getImageRef();
  }

  /** {@code ImageStatus}: the image, or empty when lamina does not have it. */
  Optional<Api.Image> status(String image) {
    Api.ImageStatusResponse r = stub.withDeadlineAfter(1, TimeUnit.MINUTES).imageStatus(
        Api.ImageStatusRequest.newBuilder().setImage(Api.ImageSpec.newBuilder().setImage(image)).build());
    return r.hasImage() ? Optional.of(r.getImage()) : Optional.empty();
  }

  /** {@code ImageStatus} with {@code verbose}: its {@code info} map (empty when there is no image). */
  Map<String, String> verboseInfo(String image) {
    return stub.withDeadlineAfter(1, TimeUnit.MINUTES).imageStatus(Api.ImageStatusRequest.newBuilder()
        .setImage(Api.ImageSpec.newBuilder().setImage(image)).setVerbose(true).build()).getInfoMap();
  }

  /** {@code ListImages} with {@code filter} (empty: every image). */
  List<Api.Image> list(Api.ImageFilter filter) {
    return stub.withDeadlineAfter(1, TimeUnit.MINUTES).listImages(
        Api.ListImagesRequest.newBuilder().setFilter(filter).build()).getImagesList();
  }

  /** {@code RemoveImage} of the image {@code image} names (ID, tag or digest reference). */
  void remove(String image) {
    stub.withDeadlineAfter(1, TimeUnit.MINUTES).removeImage(
        Api.RemoveImageRequest.newBuilder().setImage(Api.ImageSpec.newBuilder().setImage(image)).build());
  }

  static Api.AuthConfig userPassword(String user, String password) {
    return Api.AuthConfig.newBuilder().setUsername(user).setPassword(password).build();
  }

  /** The {@code auth} field: base64 of {@code user:password}. */
  static Api.AuthConfig auth(String user, String password) {
    return Api.AuthConfig.newBuilder().setAuth(Base64.getEncoder()
        .encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8))).build();
  }

  @Override
  public void close() {
    channel.close();
  }
}
