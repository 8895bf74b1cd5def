package dev.lamina.cri;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lamina.cri.runtime.v1.Api;
import dev.lamina.cri.runtime.v1.ImageServiceGrpc;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.images.ImageRecord;
import dev.lamina.remotes.auth.Credentials;
import dev.lamina.services.ErrorMappingInterceptor;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.IOException;
import java.net.ConnectException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** The CRI ImageService over an in-memory image manager, called through in-process gRPC. */
class CriImageServiceTest {
  static final String BUSYBOX = "docker.io/library/busybox:1.36";
  static final String PASSWORD = "s3cr3t-pa55word";

  final FakeImageManager images = new FakeImageManager();
  CriImageService service;
  Server server;
  ManagedChannel channel;
  ImageServiceGrpc.ImageServiceBlockingStub cri;

  final ImageRecord busybox = Images.image("busybox", "", 4_266_000, BUSYBOX, "docker.io/library/busybox:latest");
  final ImageRecord nginx = Images.image("nginx", "101", 70_000_000, "docker.io/library/nginx:1.27");

  @BeforeEach
  void start() throws IOException {
    service = new CriImageService(images);
    String name = InProcessServerBuilder.generateName();
    server = InProcessServerBuilder.forName(name)
        .addService(ServerInterceptors.intercept(service, new ErrorMappingInterceptor()))
        .build().start();
    channel = InProcessChannelBuilder.forName(name).build();
    cri = ImageServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
  }

  @AfterEach
  void stop() throws InterruptedException {
    channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    service.close();
  }

  static Api.ImageSpec spec(String image) {
    return Api.ImageSpec.newBuilder().setImage(image).build();
  }

  Api.ImageStatusResponse status(String image) {
    return cri.imageStatus(Api.ImageStatusRequest.newBuilder().setImage(spec(image)).build());
  }

  Api.ImageStatusResponse verbose(String image) {
    return cri.imageStatus(Api.ImageStatusRequest.newBuilder().setImage(spec(image)).setVerbose(true).build());
  }

  Api.PullImageResponse pull(String image) {
    return pull(image, null);
  }

  Api.PullImageResponse pull(String image, Api.AuthConfig auth) {
    Api.PullImageRequest.Builder b = Api.PullImageRequest.newBuilder().setImage(spec(image));
    if (auth != null) {
      b.setAuth(auth);
    }
    return cri.pullImage(b.build());
  }

  void remove(String image) {
    cri.removeImage(Api.RemoveImageRequest.newBuilder().setImage(spec(image)).build());
  }

  List<Api.Image> list(String filter) {
    Api.ListImagesRequest.Builder b = Api.ListImagesRequest.newBuilder();
    if (filter != null) {
      b.setFilter(Api.ImageFilter.newBuilder().setImage(spec(filter)));
    }
    return cri.listImages(b.build()).getImagesList();
  }

  static StatusRuntimeException failure(ThrowingCallable call, Status.Code code) {
    StatusRuntimeException[] caught = new StatusRuntimeException[1];
    assertThatThrownBy(call).isInstanceOfSatisfying(StatusRuntimeException.class, e -> caught[0] = e);
    assertThat(caught[0].getStatus().getCode()).as(caught[0].getStatus().toString()).isEqualTo(code);
    return caught[0];
  }

  // ---- PullImage ----

  @Test
  void pullNormalizesTheReferenceAndAnswersWithTheImageId() {
    images.publish("docker.io/library/busybox:latest", busybox);
    Api.PullImageResponse r = pull("busybox");
    assertThat(r.getImageRef()).isEqualTo(busybox.id().toString()).startsWith("sha256:");
    assertThat(images.pulls).containsExactly("docker.io/library/busybox:latest");
    assertThat(images.credentials).containsExactly(Credentials.anonymous());
    // Image.id is the same value (CRI: "MUST always match PullImageResponse.image_ref").
    assertThat(status("busybox").getImage().getId()).isEqualTo(r.getImageRef());
  }

  @Test
  void pullByDigestKeepsTheDigest() {
    String ref = "docker.io/library/busybox@" + busybox.manifestDigest();
    images.publish(ref, busybox);
    assertThat(pull("busybox@" + busybox.manifestDigest()).getImageRef()).isEqualTo(busybox.id().toString());
    assertThat(images.pulls).containsExactly(ref);
  }

  @Test
  void pullPassesEveryAuthConfigField() {
    images.publish(BUSYBOX, busybox);
    Api.AuthConfig auth = Api.AuthConfig.newBuilder().setUsername("alice").setPassword(PASSWORD)
        .setAuth(Base64.getEncoder().encodeToString("alice:pw".getBytes(StandardCharsets.UTF_8)))
        .setServerAddress("registry.example.com").setIdentityToken("id-token").setRegistryToken("reg-token").build();
    pull("busybox:1.36", auth);
    assertThat(images.credentials).containsExactly(new Credentials("alice", PASSWORD,
        auth.getAuth(), "registry.example.com", "id-token", "reg-token"));
  }

  @Test
  void pullWithOnlyARegistryTokenSendsIt() {
    images.publish(BUSYBOX, busybox);
    pull("busybox:1.36", Api.AuthConfig.newBuilder().setRegistryToken("reg-token").build());
    assertThat(images.credentials).containsExactly(Credentials.registryToken("reg-token"));
  }

  @Test
  void malformedAuthFailsBeforeAnyPullAndIsNotEchoed() {
    images.publish(BUSYBOX, busybox);
    String auth = "%%not-base64%%" + PASSWORD;
    StatusRuntimeException e = failure(() -> pull(BUSYBOX, Api.AuthConfig.newBuilder().setAuth(auth).build()),
        Status.Code.INVALID_ARGUMENT);
    assertThat(e.getStatus().getDescription()).contains("auth").doesNotContain(PASSWORD);
    assertThat(images.pulls).isEmpty();
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "Busybox", "busy box", "busybox:", "docker.io/library/busybox:tag@sha256:abc",
      "a//b", "-leading/dash"})
  void invalidReferencesAreInvalidArgument(String ref) {
    StatusRuntimeException e = failure(() -> pull(ref), Status.Code.INVALID_ARGUMENT);
    assertThat(e.getStatus().getDescription()).isNotBlank();
    assertThat(images.pulls).isEmpty();
  }

  @Test
  void pullOfAnImageTheRegistryDoesNotHaveIsNotFound() {
    StatusRuntimeException e = failure(() -> pull("library/nosuch:1"), Status.Code.NOT_FOUND);
    assertThat(e.getStatus().getDescription()).contains("docker.io/library/nosuch:1");
  }

  @Test
  void refusedCredentialsAreUnauthenticatedWithAHintAndNoSecret() {
    images.failPull(BUSYBOX, new LaminaException(ErrorKind.UNAUTHENTICATED,
        "registry-1.docker.io: 401 Unauthorized: authentication required"));
    StatusRuntimeException anonymous = failure(() -> pull("busybox:1.36"), Status.Code.UNAUTHENTICATED);
    assertThat(anonymous.getStatus().getDescription())
        .contains("busybox:1.36").contains("401").contains("no credentials were given");

    StatusRuntimeException refused = failure(() -> pull("busybox:1.36",
        Api.AuthConfig.newBuilder().setUsername("alice").setPassword(PASSWORD).setServerAddress("docker.io").build()),
        Status.Code.UNAUTHENTICATED);
    assertThat(refused.getStatus().getDescription())
        .contains("refused the credentials given for docker.io").doesNotContain(PASSWORD);
  }

  /** What the registry client already noted about a 401 is not said a second time. */
  @Test
  void theRegistryClientsNoteOnA401IsNotRepeated() {
    images.failPull(BUSYBOX, new LaminaException(ErrorKind.UNAUTHENTICATED,
        "resolve docker.io/library/busybox:1.36: registry-1.docker.io answered 401 Unauthorized (no credentials were given)"));
    String anonymous = failure(() -> pull("busybox:1.36"), Status.Code.UNAUTHENTICATED).getStatus().getDescription();
    assertThat(anonymous).containsOnlyOnce("no credentials were given").contains("imagePullSecrets");

    images.failPull(BUSYBOX, new LaminaException(ErrorKind.UNAUTHENTICATED,
        "resolve docker.io/library/busybox:1.36: registry-1.docker.io answered 401 Unauthorized"
            + " (the registry refused the credentials)"));
    String refused = failure(() -> pull("busybox:1.36",
        Api.AuthConfig.newBuilder().setUsername("alice").setPassword(PASSWORD).setServerAddress("docker.io").build()),
        Status.Code.UNAUTHENTICATED).getStatus().getDescription();
    assertThat(refused).containsOnlyOnce("refused").contains("docker.io").doesNotContain(PASSWORD);
  }

  @Test
  void unreachableRegistryIsUnavailable() {
    images.failPull("localhost:5999/app:1", new IOException("fetch manifest", new ConnectException("Connection refused")));
    StatusRuntimeException e = failure(() -> pull("localhost:5999/app:1"), Status.Code.UNAVAILABLE);
    assertThat(e.getStatus().getDescription()).contains("localhost:5999/app:1").contains("fetch manifest");
  }

  @Test
  void otherKindsKeepTheirCode() {
    images.failPull(BUSYBOX, LaminaException.dataLoss("layer sha256:abc: digest mismatch"));
    assertThat(failure(() -> pull(BUSYBOX), Status.Code.DATA_LOSS).getStatus().getDescription())
        .contains("digest mismatch");
  }

  @Test
  void pullingAnImageIdWorksOnlyWhenItIsHere() {
    images.add(busybox);
    assertThat(pull(busybox.id().toString()).getImageRef()).isEqualTo(busybox.id().toString());
    assertThat(pull(busybox.id().hex()).getImageRef()).isEqualTo(busybox.id().toString());
    assertThat(failure(() -> pull(nginx.id().toString()), Status.Code.INVALID_ARGUMENT).getStatus().getDescription())
        .contains("cannot pull image ID");
    assertThat(images.pulls).isEmpty();
  }

  @Test
  void concurrentPullsAllAnswer() throws Exception {
    images.publish(BUSYBOX, busybox);
    List<Thread> threads = new ArrayList<>();
    List<String> answers = java.util.Collections.synchronizedList(new ArrayList<>());
    for (int i = 0; i < 8; i++) {
      Thread t = new Thread(() -> answers.add(pull("busybox:1.36").getImageRef()));
      threads.add(t);
      t.start();
    }
    for (Thread t : threads) {
      t.join(10_000);
    }
    assertThat(answers).hasSize(8).containsOnly(busybox.id().toString());
  }

  // ---- ImageStatus ----

  @Test
  void statusOfAMissingImageIsAnEmptyResponse() {
    images.add(nginx);
    for (String name : List.of("busybox", BUSYBOX, busybox.id().toString(), busybox.id().hex(),
        busybox.id().hex().substring(0, 13), "docker.io/library/busybox@" + busybox.manifestDigest())) {
      Api.ImageStatusResponse r = verbose(name);
      assertThat(r.hasImage()).as(name).isFalse();
      assertThat(r.getInfoMap()).as(name).isEmpty();
    }
  }

  @Test
  void statusFindsAnImageByEveryName() {
    images.add(busybox).add(nginx);
    String hex = busybox.id().hex();
    for (String name : List.of("busybox:1.36", "busybox", "library/busybox:1.36", "docker.io/library/busybox:1.36",
        "index.docker.io/library/busybox:latest", "busybox@" + busybox.manifestDigest(),
        "docker.io/library/busybox@" + busybox.manifestDigest(), busybox.id().toString(), hex, hex.substring(0, 13),
        "sha256:" + hex.substring(0, 13), hex.substring(0, 3))) {
      assertThat(status(name).getImage().getId()).as(name).isEqualTo(busybox.id().toString());
    }
  }

  @Test
  void statusReportsWhatKubeletNeeds() {
    images.add(Images.pinned(busybox));
    Api.Image image = status("busybox:1.36").getImage();
    assertThat(image.getRepoTagsList()).containsExactly(BUSYBOX, "docker.io/library/busybox:latest");
    assertThat(image.getRepoDigestsList()).containsExactly("docker.io/library/busybox@" + busybox.manifestDigest());
    assertThat(image.getSize()).isEqualTo(4_266_000);
    assertThat(image.getPinned()).isTrue();
  }

  @Test
  void sizeIsNeverZero() {
    images.add(Images.image("empty", "", 0, "docker.io/library/empty:1"));
    assertThat(status("empty:1").getImage().getSize()).isPositive();
  }

  @ParameterizedTest(name = "User \"{0}\"")
  @CsvSource(value = {
    "1000, 1000, ''",
    "1000:1000, 1000, ''",
    "0, 0, ''",
    "0:0, 0, ''",
    "nobody, , nobody",
    "nobody:nogroup, , nobody",
    "www-data:33, , www-data",
    "'', , ''",
  }, nullValues = "")
  void uidOrUsernameAsContainerdReportsThem(String user, Long uid, String username) {
    images.add(Images.withUser(busybox, user == null ? "" : user));
    Api.Image image = status(BUSYBOX).getImage();
    if (uid == null) {
      assertThat(image.hasUid()).as("uid set").isFalse();
    } else {
      assertThat(image.hasUid()).as("uid set").isTrue();
      assertThat(image.getUid().getValue()).isEqualTo(uid);
    }
    assertThat(image.getUsername()).isEqualTo(username == null ? "" : username);
  }

  @Test
  void verboseStatusCarriesTheImageConfigAsJson() throws Exception {
    images.add(nginx);
    Api.ImageStatusResponse r = verbose("nginx:1.27");
    assertThat(r.getInfoMap()).containsOnlyKeys("info");
    JsonNode info = new ObjectMapper().readTree(r.getInfoMap().get("info"));
    assertThat(info.path("chainID").asText()).isEqualTo(nginx.chainIds().get(1).toString());
    assertThat(info.path("chainIDs")).hasSize(2);
    assertThat(info.path("manifestDigest").asText()).isEqualTo(nginx.manifestDigest().toString());
    JsonNode spec = info.path("imageSpec");
    assertThat(spec.path("architecture").asText()).isEqualTo("amd64");
    assertThat(spec.path("os").asText()).isEqualTo("linux");
    assertThat(spec.path("created").asText()).isEqualTo("2024-01-02T03:04:05Z");
    assertThat(spec.path("config").path("User").asText()).isEqualTo("101");
    assertThat(spec.path("config").path("Cmd").get(0).asText()).isEqualTo("sh");
    assertThat(spec.path("config").path("ExposedPorts").has("80/tcp")).isTrue();
    assertThat(spec.path("config").path("Labels").path("org.opencontainers.image.title").asText()).isEqualTo("test");
    assertThat(spec.path("config").has("Entrypoint")).as("empty fields are left out").isFalse();
    assertThat(spec.path("rootfs").path("type").asText()).isEqualTo("layers");
    assertThat(spec.path("rootfs").path("diff_ids")).hasSize(2);
    assertThat(spec.path("history").get(0).path("created_by").asText()).isEqualTo("ADD rootfs /");

    assertThat(status("nginx:1.27").getInfoMap()).as("only with verbose").isEmpty();
  }

  @Test
  void ambiguousIdPrefixIsInvalidArgument() {
    // Two images whose IDs share a first hex digit: find seeds that collide.
    List<ImageRecord> made = new ArrayList<>();
    for (int i = 0; made.size() < 2; i++) {
      ImageRecord r = Images.image("seed" + i, "", 1, "docker.io/library/i" + i + ":1");
      if (made.isEmpty() || made.get(0).id().hex().substring(0, 3).equals(r.id().hex().substring(0, 3))) {
        made.add(r);
      }
    }
    made.forEach(images::add);
    String prefix = made.get(0).id().hex().substring(0, 3);
    assertThat(failure(() -> status(prefix), Status.Code.INVALID_ARGUMENT).getStatus().getDescription())
        .contains("ambiguous");
  }

  @ParameterizedTest
  @ValueSource(strings = {"", "Busybox", "busy box", "busybox:"})
  void statusOfSomethingThatIsNoImageNameIsInvalidArgument(String name) {
    failure(() -> status(name), Status.Code.INVALID_ARGUMENT);
  }

  @Test
  void managerFailuresKeepTheirKind() {
    images.failEverything = new LaminaException(ErrorKind.UNAVAILABLE, "metadata.db is locked");
    assertThat(failure(() -> status(BUSYBOX), Status.Code.UNAVAILABLE).getStatus().getDescription())
        .isEqualTo("metadata.db is locked");
    images.failEverything = new IOException("disk on fire");
    failure(() -> list(null), Status.Code.INTERNAL);
    failure(() -> cri.imageFsInfo(Api.ImageFsInfoRequest.getDefaultInstance()), Status.Code.INTERNAL);
  }

  // ---- RemoveImage ----

  @Test
  void removeByOneTagRemovesTheWholeImage() {
    images.add(busybox).add(nginx);
    remove("busybox:latest");
    assertThat(status(BUSYBOX).hasImage()).isFalse();
    assertThat(list(null)).extracting(Api.Image::getId).containsExactly(nginx.id().toString());
  }

  @Test
  void removeByIdDigestOrShortId() {
    ImageRecord a = Images.image("a", "", 10, "docker.io/library/a:1");
    ImageRecord b = Images.image("b", "", 10, "docker.io/library/b:1");
    images.add(a).add(b).add(nginx);
    remove(a.id().toString());
    remove("docker.io/library/b@" + b.manifestDigest());
    remove(nginx.id().hex().substring(0, 13));
    assertThat(list(null)).isEmpty();
    assertThat(images.removed).containsExactly(a.id().toString(), b.id().toString(), nginx.id().toString());
  }

  @Test
  void removingWhatIsNotThereSucceeds() {
    remove("busybox");
    remove(busybox.id().toString());
    images.add(busybox);
    remove(BUSYBOX);
    remove(BUSYBOX);
    // removed by someone else between the lookup and the remove
    images.add(nginx);
    images.removeRacesAndFindsNothing = true;
    remove("nginx:1.27");
  }

  @Test
  void removeOfSomethingThatIsNoImageNameIsInvalidArgument() {
    failure(() -> remove("Not A Name"), Status.Code.INVALID_ARGUMENT);
  }

  // ---- ListImages, StreamImages ----

  @Test
  void listAllOrTheOneImageTheFilterNames() {
    images.add(busybox).add(nginx);
    assertThat(list(null)).extracting(Api.Image::getId).containsExactly(busybox.id().toString(), nginx.id().toString());
    assertThat(list("")).hasSize(2);
    assertThat(list("busybox")).extracting(Api.Image::getId).containsExactly(busybox.id().toString());
    assertThat(list("nginx:1.27")).extracting(Api.Image::getId).containsExactly(nginx.id().toString());
    assertThat(list(nginx.id().toString())).hasSize(1);
    assertThat(list("alpine")).isEmpty();
    failure(() -> list("Not A Name"), Status.Code.INVALID_ARGUMENT);
  }

  @Test
  void listedImagesLookLikeTheirStatus() {
    images.add(Images.withUser(nginx, "nginx"));
    assertThat(list(null)).containsExactly(status("nginx:1.27").getImage());
  }

  @Test
  void streamImagesSendsEveryImageOnceInBatches() {
    int n = CriImageService.STREAM_BATCH + 5;
    for (int i = 0; i < n; i++) {
      images.add(Images.image("s" + i, "", 1 + i, "docker.io/library/s" + i + ":1"));
    }
    Iterator<Api.StreamImagesResponse> it = cri.streamImages(Api.StreamImagesRequest.getDefaultInstance());
    List<Integer> batches = new ArrayList<>();
    List<String> ids = new ArrayList<>();
    it.forEachRemaining(r -> {
      batches.add(r.getImagesCount());
      r.getImagesList().forEach(i -> ids.add(i.getId()));
    });
    assertThat(batches).containsExactly(CriImageService.STREAM_BATCH, 5);
    assertThat(ids).hasSize(n).doesNotHaveDuplicates();

    Iterator<Api.StreamImagesResponse> filtered = cri.streamImages(Api.StreamImagesRequest.newBuilder()
        .setFilter(Api.ImageFilter.newBuilder().setImage(spec("s7:1"))).build());
    List<Api.Image> one = new ArrayList<>();
    filtered.forEachRemaining(r -> one.addAll(r.getImagesList()));
    assertThat(one).hasSize(1);
    assertThat(one.get(0).getRepoTagsList()).containsExactly("docker.io/library/s7:1");
  }

  // ---- ImageFsInfo ----

  @Test
  void imageFsInfoReportsOneImageFilesystemAndNoContainerFilesystem() {
    Api.ImageFsInfoResponse r = cri.imageFsInfo(Api.ImageFsInfoRequest.getDefaultInstance());
    assertThat(r.getImageFilesystemsList()).hasSize(1);
    assertThat(r.getContainerFilesystemsList()).isEmpty();
    Api.FilesystemUsage fs = r.getImageFilesystems(0);
    assertThat(fs.getTimestamp()).isEqualTo(1_700_000_000L * 1_000_000_000L + 42);
    assertThat(fs.getFsId().getMountpoint()).isEqualTo("/var/lib/lamina");
    assertThat(fs.getUsedBytes().getValue()).isEqualTo(123_456_789L);
    assertThat(fs.getInodesUsed().getValue()).isEqualTo(4321L);
  }

  @Test
  void imageFsInfoTimestampIsAlwaysPositive() {
    images.usage = new dev.lamina.images.FilesystemUsage(java.nio.file.Path.of("/x"), 0, 0, null);
    assertThat(cri.imageFsInfo(Api.ImageFsInfoRequest.getDefaultInstance()).getImageFilesystems(0).getTimestamp())
        .isPositive();
  }
}
