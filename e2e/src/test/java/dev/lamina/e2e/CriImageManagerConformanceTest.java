// Mirrors cri-tools' pkg/validate/image.go, the "Image Manager" Describe of critest
// (kubernetes-sigs/cri-tools, image.go as of commit 2c89a40), spec by spec, with the image names
// of pkg/validate/consts.go and the helpers of pkg/framework/util.go (PrepareImageName,
// PullPublicImage, ImageStatus, ListImage).
package dev.lamina.e2e;

import static dev.lamina.fstest.FsTree.dir;
import static dev.lamina.fstest.FsTree.file;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lamina.cri.runtime.v1.Api;
import dev.lamina.fstest.FsTree;
import dev.lamina.oci.Platform;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.extension.TestWatcher;
import org.junit.jupiter.api.io.TempDir;

/**
 * critest's image specs against one {@code lamina serve}, over its CRI socket, in the order of
 * image.go; each test is named after its {@code It(...)}. The images critest pulls live on public
 * registries; here they are rebuilt like cri-tools' {@code images/build} makes them (a shared base
 * layer, plus an empty file named after the image, or a {@code User} in the config), each as a
 * Docker manifest list of the node's platform and one other (what {@code docker manifest push}
 * writes), and pushed under the same repository paths and tags to Debian's {@code docker-registry}
 * on 127.0.0.1. lamina's {@code
 * --registry-config-dir} (hosts.toml) sends {@code gcr.io}, {@code registry.k8s.io} and {@code
 * k8s.gcr.io} there, so every request names an image by the very string critest uses. Only the
 * digest reference differs: the upstream digest cannot be rebuilt, so it is the digest of the
 * manifest list pushed here.
 *
 * <p>Where upstream checks only what Go's types make true anyway ({@code NotTo(BeNil())} of a
 * string or an integer), the test checks what the CRI API asks instead: a non-empty ID, a size
 * above 0. Where upstream passes when it finds no image with a pulled ID in the list, the test
 * fails. Two tests at the end go beyond image.go, for the CRI API's word on {@code RemoveImage}:
 * removal by each kind of name, and of an image that is not there.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class CriImageManagerConformanceTest {
  // ---------------------------------------------------------------- pkg/validate/consts.go

  private static final String REGISTRY = "gcr.io/k8s-staging-cri-tools/";
  private static final String TEST_IMAGE_USER_UID = REGISTRY + "test-image-user-uid";
  private static final long IMAGE_USER_UID = 1002;
  private static final String TEST_IMAGE_USER_USERNAME = REGISTRY + "test-image-user-username";
  private static final String IMAGE_USER_USERNAME = "www-data";
  private static final String TEST_IMAGE_USER_UID_GROUP = REGISTRY + "test-image-user-uid-group";
  private static final long IMAGE_USER_UID_GROUP = 1003;
  private static final String TEST_IMAGE_USER_USERNAME_GROUP = REGISTRY + "test-image-user-username-group";
  private static final String IMAGE_USER_USERNAME_GROUP = "www-data";

  private static final String TEST_IMAGE_WITHOUT_TAG = REGISTRY + "test-image-latest";
  private static final String TEST_IMAGE_WITH_TAG = REGISTRY + "test-image-tag:test";
  /** Upstream: {@code test-image-digest@sha256:9700f9a2...}; here the digest of the manifest list pushed in {@link #setUp}. */
  private static String testImageWithDigest;
  private static final String TEST_IMAGE_WITH_ALL_REFERENCES = REGISTRY + "test-image-tag:all";

  private static final List<String> TEST_DIFFERENT_TAG_DIFFERENT_IMAGE_LIST = List.of(
      REGISTRY + "test-image-1:latest",
      REGISTRY + "test-image-2:latest",
      REGISTRY + "test-image-3:latest");
  private static final List<String> TEST_DIFFERENT_TAG_SAME_IMAGE_LIST = List.of(
      REGISTRY + "test-image-tags:1",
      REGISTRY + "test-image-tags:2",
      REGISTRY + "test-image-tags:3");
  private static final List<String> TEST_SAME_IMAGE_DIFFERENT_REGISTRIES = List.of(
      "registry.k8s.io/pause:3.9",
      "k8s.gcr.io/pause:3.9");
  /** {@code testImagePodSandbox}: a sandbox config with {@code DefaultLinuxPodLabels}, which are none. */
  private static final Api.PodSandboxConfig TEST_IMAGE_POD_SANDBOX = Api.PodSandboxConfig.getDefaultInstance();

  // ---------------------------------------------------------------- the local stand-ins

  /** The hosts critest's images come from; hosts.toml sends each to the local registry. */
  private static final List<String> PUBLIC_HOSTS = List.of("gcr.io", "registry.k8s.io", "k8s.gcr.io");
  private static final Duration PULL_DEADLINE = Duration.ofMinutes(2);

  @TempDir static Path tmp;

  private static DockerRegistry registry;
  private static ContainerdLaminaProcess lamina;
  private static CriImagesClient c;

  /** On a failure, the end of lamina's log goes to the test's output. */
  @RegisterExtension
  static final TestWatcher LAMINA_LOG_ON_FAILURE = ContainerdLaminaProcess.logOnFailure(() -> lamina, 100);

  @BeforeAll
  static void setUp() throws Exception {
    Umoci.assumeInstalled();
    assumeTrue(DockerRegistry.installed(), DockerRegistry.MISSING);
    ContainerdLaminaProcess.assumeBuilt();

    registry = DockerRegistry.start(tmp.resolve("registry"));
    pushTestImages();
    Path hosts = hostsToml();

    Path dir = Files.createDirectories(tmp.resolve("lamina"));
    lamina = ContainerdLaminaProcess.start(dir.resolve("root"), dir.resolve("snapshots.sock"), "auto",
        dir.resolve("lamina.log"), List.of("-Dorg.slf4j.simpleLogger.log.dev.lamina=debug"),
        List.of("--registry-config-dir", hosts.toString()));
    lamina.awaitCriSocket(Duration.ofSeconds(30));
    c = CriImagesClient.connect(lamina.criSocket());
  }

  @AfterAll
  static void tearDown() throws IOException {
    ContainerdHarness.closeAllThenUnmount(tmp, c, lamina, registry);
  }

  /**
   * The images of cri-tools' {@code images/build}, from one layout: a base layer standing in for
   * busybox (with busybox's {@code www-data}, uid 33), then for the {@code image-test} images a
   * layer with the empty file {@code /<TEST>}, for the {@code image-user} images a {@code User}.
   */
  private static void pushTestImages() throws Exception {
    Path work = tmp.resolve("images");
    Umoci base = Umoci.create(work.resolve("layout"), "base", Files.createDirectories(work.resolve("scratch")));
    base.layer(rootfs -> FsTree.apply(rootfs,
        dir("bin", 0755),
        file("bin/true", "#!/bin/sh\nexit 0\n", 0755),
        dir("etc", 0755),
        file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/bin/false\n", 0644),
        file("etc/group", "root:x:0:\nwww-data:x:33:\n", 0644),
        dir("tmp", 01777)));

    // images/build: build_image ... --build-arg "TEST=$IMAGE" (image-test: ADD ${TEST} ${TEST})
    Map<String, List<String>> images = new LinkedHashMap<>();
    for (String name : List.of("test-image-1", "test-image-2", "test-image-3", "test-image-latest",
        "test-image-digest")) {
      images.put(testImage(base, name, name), List.of("k8s-staging-cri-tools/" + name + ":latest"));
    }
    images.put(testImage(base, "test-image-tags", "same-image"), List.of("k8s-staging-cri-tools/test-image-tags:1",
        "k8s-staging-cri-tools/test-image-tags:2", "k8s-staging-cri-tools/test-image-tags:3"));
    for (String tag : List.of("test", "all")) {
      images.put(testImage(base, "test-image-tag-" + tag, tag), List.of("k8s-staging-cri-tools/test-image-tag:" + tag));
    }
    // images/build: IMAGE_USERS (image-user: USER ${USER})
    Map<String, String> users = Map.of(
        "test-image-user-uid", "1002",
        "test-image-user-username", "www-data",
        "test-image-user-uid-group", "1003:1004",
        "test-image-user-username-group", "www-data:1004");
    for (Map.Entry<String, String> u : users.entrySet()) {
      images.put(userImage(base, u.getKey(), u.getValue()), List.of("k8s-staging-cri-tools/" + u.getKey() + ":latest"));
    }
    // registry.k8s.io/pause:3.9 and k8s.gcr.io/pause:3.9 are one image
    images.put(pauseImage(base), List.of("pause:3.9"));

    for (Map.Entry<String, List<String>> e : images.entrySet()) {
      for (String target : e.getValue()) {
        int colon = target.lastIndexOf(':');
        String digest = registry.pushAll(base.layout(), e.getKey(), target.substring(0, colon),
            target.substring(colon + 1), "v2s2");
        if (target.startsWith("k8s-staging-cri-tools/test-image-digest:")) {
          testImageWithDigest = REGISTRY + "test-image-digest@" + digest;
        }
      }
    }
  }

  /** {@code image-test} with {@code TEST=test}: base plus the empty file {@code /test}; returns its list's tag. */
  private static String testImage(Umoci base, String name, String test) throws Exception {
    Umoci image = base.tag(name);
    image.layer(rootfs -> FsTree.apply(rootfs, file(test, "", 0644)));
    return multiPlatform(image, List.of());
  }

  /** {@code image-user} with {@code USER=user}: base with that {@code User}; returns its list's tag. */
  private static String userImage(Umoci base, String name, String user) throws Exception {
    Umoci image = base.tag(name);
    image.config("--config.user", user);
    return multiPlatform(image, List.of());
  }

  /**
   * The pause image: like registry.k8s.io's pause:3.9, its list names Windows builds too (here
   * listed first), which a Linux node must pass over.
   */
  private static String pauseImage(Umoci base) throws Exception {
    Umoci image = base.tag("pause");
    image.layer(rootfs -> FsTree.apply(rootfs, file("pause", "", 0755)));
    return multiPlatform(image, List.of(new Platform("windows", "amd64", "", "10.0.17763.4010")));
  }

  /**
   * The image and copies of it configured for {@code before} and for another Linux architecture,
   * in one index tagged {@code <tag>-index}: {@code before} first, then the node's platform, then
   * the other architecture (as {@code docker manifest create} lists the builds of each).
   */
  private static String multiPlatform(Umoci image, List<Platform> before) throws IOException {
    Platform node = Platform.current();
    Platform other = Platform.of("linux", node.architecture().equals("amd64") ? "arm64" : "amd64");
    Map<String, Platform> members = new LinkedHashMap<>();
    for (Platform p : before) {
      members.put(copyFor(image, p), p);
    }
    members.put(image.tag(), node);
    members.put(copyFor(image, other), other);
    String indexTag = image.tag() + "-index";
    OciImage.writeIndex(image.layout(), indexTag, members);
    return indexTag;
  }

  /** A copy of the image whose config names {@code platform}'s OS and architecture; returns its tag. */
  private static String copyFor(Umoci image, Platform platform) throws IOException {
    Umoci copy = image.tag(image.tag() + "-" + platform.os() + "-" + platform.architecture());
    copy.config("--os", platform.os(), "--architecture", platform.architecture());
    return copy.tag();
  }

  /**
   * {@code DIR/<host>/hosts.toml} for each public host: the local registry as the server (plain
   * http); for k8s.gcr.io also as a mirror, so that the mirror path is taken as well. Every host
   * named is the local registry: nothing leaves 127.0.0.1.
   */
  private static Path hostsToml() throws IOException {
    Path dir = tmp.resolve("certs.d");
    String server = "http://" + registry.host();
    for (String host : PUBLIC_HOSTS) {
      String toml = "server = \"" + server + "\"\n";
      if (host.equals("k8s.gcr.io")) {
        toml += "\n[host.\"" + server + "\"]\n  capabilities = [\"pull\", \"resolve\"]\n";
      }
      Files.writeString(Files.createDirectories(dir.resolve(host)).resolve("hosts.toml"), toml,
          StandardCharsets.UTF_8);
    }
    return dir;
  }

  // ---------------------------------------------------------------- image.go: the specs

  @Test
  @Order(1)
  @DisplayName("public image with tag should be pulled and removed [Conformance]")
  void publicImageWithTagShouldBePulledAndRemoved() {
    testPullPublicImage(TEST_IMAGE_WITH_TAG, s -> assertThat(s.getRepoTagsList()).containsExactly(TEST_IMAGE_WITH_TAG));
  }

  @Test
  @Order(2)
  @DisplayName("public image should timeout if requested [Conformance]")
  void publicImageShouldTimeoutIfRequested() {
    String imageName = prepareImageName(TEST_IMAGE_WITH_TAG);

    StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class,
        () -> c.pull(imageName, null, null, Duration.ofMillis(1)));

    assertThat(e).as("a pull with a 1 ms deadline returns no image ID").isNotNull();
    assertThat(e.getStatus().getCode()).as("%s", e.getStatus()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
  }

  @Test
  @Order(3)
  @DisplayName("public image without tag should be pulled and removed [Conformance]")
  void publicImageWithoutTagShouldBePulledAndRemoved() {
    testPullPublicImage(TEST_IMAGE_WITHOUT_TAG,
        s -> assertThat(s.getRepoTagsList()).containsExactly(TEST_IMAGE_WITHOUT_TAG + ":latest"));
  }

  @Test
  @Order(4)
  @DisplayName("public image with digest should be pulled and removed [Conformance]")
  void publicImageWithDigestShouldBePulledAndRemoved() {
    testPullPublicImage(testImageWithDigest, s -> {
      assertThat(s.getRepoTagsList()).isEmpty();
      assertThat(s.getRepoDigestsList()).containsExactly(testImageWithDigest);
    });
  }

  @Test
  @Order(5)
  @DisplayName("image status should support all kinds of references [Conformance]")
  void imageStatusShouldSupportAllKindsOfReferences() {
    String imageName = TEST_IMAGE_WITH_ALL_REFERENCES;
    // Make sure image does not exist before testing.
    removeImage(imageName);

    pullPublicImage(imageName);

    Api.Image status = imageStatus(imageName).orElse(null);
    assertThat(status).as("should get image status").isNotNull();
    assertThat(imageStatus(status.getId())).as("image status with %s", status.getId()).contains(status);
    for (String tag : status.getRepoTagsList()) {
      assertThat(imageStatus(tag)).as("image status with %s", tag).contains(status);
    }
    for (String digest : status.getRepoDigestsList()) {
      assertThat(imageStatus(digest)).as("image status with %s", digest).contains(status);
    }

    testRemoveImage(imageName);
  }

  /** A test image of each {@code User} form: the uid or the user name before any {@code :group}, never both. */
  @Test
  @Order(6)
  @DisplayName("image status get image fields should not have Uid|Username empty [Conformance]")
  void imageStatusGetImageFieldsShouldNotHaveUidUsernameEmpty() {
    record Item(String description, String image, long uid, String username) {}
    List<Item> items = List.of(
        new Item("UID only", TEST_IMAGE_USER_UID, IMAGE_USER_UID, ""),
        new Item("Username only", TEST_IMAGE_USER_USERNAME, 0, IMAGE_USER_USERNAME),
        new Item("UID:group", TEST_IMAGE_USER_UID_GROUP, IMAGE_USER_UID_GROUP, ""),
        new Item("Username:group", TEST_IMAGE_USER_USERNAME_GROUP, 0, IMAGE_USER_USERNAME_GROUP));
    List<String> deferred = new ArrayList<>();
    try {
      for (Item item : items) {
        pullPublicImage(item.image());
        deferred.add(item.image());

        Api.Image status = imageStatus(item.image()).orElseThrow();
        assertThat(status.getUid().getValue()).as("%s, Image Uid should be %d", item.description(), item.uid())
            .isEqualTo(item.uid());
        assertThat(status.getUsername()).as("%s, Image Username should be %s", item.description(), item.username())
            .isEqualTo(item.username());
      }
    } finally {
      Collections.reverse(deferred);
      deferred.forEach(CriImageManagerConformanceTest::removeImage);
    }
  }

  @Test
  @Order(7)
  @DisplayName("listImage should get exactly 3 image in the result list [Conformance]")
  void listImageShouldGetExactly3ImageInTheResultList() {
    // Make sure test image does not exist.
    removeImageList(TEST_DIFFERENT_TAG_DIFFERENT_IMAGE_LIST);
    List<String> ids = pullImageList(TEST_DIFFERENT_TAG_DIFFERENT_IMAGE_LIST);
    assertThat(ids).as("3 image ids should be returned").hasSize(3);
    try {
      List<Api.Image> images = listImage();

      for (int i = 0; i < ids.size(); i++) {
        String id = ids.get(i);
        Api.Image img = images.stream().filter(x -> x.getId().equals(id)).findFirst().orElse(null);
        assertThat(img).as("the image %s pulled as %s in the list", id, TEST_DIFFERENT_TAG_DIFFERENT_IMAGE_LIST.get(i))
            .isNotNull();
        assertThat(img.getRepoTagsList()).as("Should only have 1 repo tag").hasSize(1);
        assertThat(img.getRepoTags(0)).as("Repo tag should be correct")
            .isEqualTo(TEST_DIFFERENT_TAG_DIFFERENT_IMAGE_LIST.get(i));
      }
    } finally {
      removeImageList(TEST_DIFFERENT_TAG_DIFFERENT_IMAGE_LIST);
    }
  }

  @Test
  @Order(8)
  @DisplayName("listImage should get exactly 3 repoTags in the result image [Conformance]")
  void listImageShouldGetExactly3RepoTagsInTheResultImage() {
    // Make sure test image does not exist.
    removeImageList(TEST_DIFFERENT_TAG_SAME_IMAGE_LIST);
    List<String> ids = pullImageList(TEST_DIFFERENT_TAG_SAME_IMAGE_LIST).stream().sorted().distinct().toList();
    assertThat(ids).as("Only 1 image id should be returned").hasSize(1);
    try {
      List<Api.Image> images = listImage();

      Api.Image img = images.stream().filter(x -> x.getId().equals(ids.get(0))).findFirst().orElse(null);
      assertThat(img).as("the image %s in the list", ids.get(0)).isNotNull();
      assertThat(img.getRepoTagsList().stream().sorted().toList()).as("Should have 3 repoTags in single image")
          .isEqualTo(TEST_DIFFERENT_TAG_SAME_IMAGE_LIST.stream().sorted().toList());
    } finally {
      removeImageList(TEST_DIFFERENT_TAG_SAME_IMAGE_LIST);
    }
  }

  @Test
  @Order(9)
  @DisplayName("removing image by one tag should remove all tags [Conformance]")
  void removingImageByOneTagShouldRemoveAllTags() {
    pullAsOneImageThenRemoveByOneName(TEST_DIFFERENT_TAG_SAME_IMAGE_LIST);
  }

  @Test
  @Order(10)
  @DisplayName("removing image from one registry should remove all tags from other registries [Conformance]")
  void removingImageFromOneRegistryShouldRemoveAllTagsFromOtherRegistries() {
    pullAsOneImageThenRemoveByOneName(TEST_SAME_IMAGE_DIFFERENT_REGISTRIES);
  }

  /**
   * The body of image.go's two "removing ... should remove all tags" specs: {@code names} pulled
   * are one image carrying exactly those tags; removing it by the first name removes every name
   * and the image ID.
   */
  private static void pullAsOneImageThenRemoveByOneName(List<String> names) {
    // Ensure images are absent before test
    removeImageList(names);

    // Pulling the image under every name
    pullImageList(names);

    // Verifying all tags are present on a single image
    Api.Image foundImage = listImage().stream().filter(img -> img.getRepoTagsList().contains(names.get(0)))
        .findFirst().orElse(null);
    assertThat(foundImage).as("Should find the pulled image").isNotNull();
    assertThat(foundImage.getRepoTagsList()).as("Should have exactly %d tags", names.size()).hasSize(names.size());
    assertThat(foundImage.getRepoTagsList()).as("Should contain every tag").containsAll(names);
    String imageId = foundImage.getId();

    // Removing image by a single tag
    removeImage(names.get(0));

    // Verifying the image is completely removed
    List<String> gone = new ArrayList<>(names);
    gone.add(imageId);
    assertAllGone(gone);
  }

  /** ImageStatus finds nothing by any of {@code refs} (tags or the image ID). */
  private static void assertAllGone(List<String> refs) {
    for (String ref : refs) {
      assertThat(imageStatus(ref)).as("Image should be gone when checking by %s", ref).isEmpty();
    }
  }

  // ---------------------------------------------------------------- beyond image.go: RemoveImage in the CRI API

  /**
   * image.go removes by the ID that ImageStatus gives; kubelet and crictl also remove by name. Each
   * kind of name removes the whole image: the name without a tag ({@code :latest}), a tag, a repo
   * digest, and the digest reference the image was pulled by.
   */
  @Test
  @Order(11)
  @DisplayName("RemoveImage by name, name:tag or name@digest removes the whole image")
  void removeImageByNameTagOrDigestRemovesTheWholeImage() {
    pullPublicImage(TEST_IMAGE_WITHOUT_TAG);
    c.remove(TEST_IMAGE_WITHOUT_TAG);
    assertThat(imageStatus(TEST_IMAGE_WITHOUT_TAG + ":latest")).as("removed by its name without a tag").isEmpty();

    pullImageList(TEST_DIFFERENT_TAG_SAME_IMAGE_LIST);
    c.remove(TEST_DIFFERENT_TAG_SAME_IMAGE_LIST.get(1));
    for (String tag : TEST_DIFFERENT_TAG_SAME_IMAGE_LIST) {
      assertThat(imageStatus(tag)).as("%s after removing %s", tag, TEST_DIFFERENT_TAG_SAME_IMAGE_LIST.get(1))
          .isEmpty();
    }

    String id = pullPublicImage(TEST_IMAGE_WITH_ALL_REFERENCES);
    Api.Image status = imageStatus(TEST_IMAGE_WITH_ALL_REFERENCES).orElseThrow();
    assertThat(status.getRepoDigestsList()).as("a pull by tag gives the image a repo digest").hasSize(1);
    c.remove(status.getRepoDigests(0));
    assertThat(imageStatus(TEST_IMAGE_WITH_ALL_REFERENCES)).as("the tag after removing the repo digest").isEmpty();
    assertThat(imageStatus(id)).as("the ID after removing the repo digest").isEmpty();

    pullPublicImage(testImageWithDigest);
    c.remove(testImageWithDigest);
    assertThat(imageStatus(testImageWithDigest)).as("removed by the digest it was pulled by").isEmpty();
  }

  /**
   * api.proto: RemoveImage "must not return an error if the image has already been removed";
   * ImageStatus of an image that is not there answers without {@code image}.
   */
  @Test
  @Order(12)
  @DisplayName("ImageStatus and RemoveImage of an image that is not there succeed with nothing")
  void imageStatusAndRemoveImageOfAMissingImageSucceedWithNothing() {
    String id = pullPublicImage(TEST_IMAGE_WITH_TAG);
    c.remove(id);
    List<String> missing = List.of(id, TEST_IMAGE_WITH_TAG, TEST_IMAGE_WITHOUT_TAG, testImageWithDigest,
        REGISTRY + "never-pushed:1", "registry.k8s.io/never-pushed@sha256:" + "0".repeat(64));
    for (String name : missing) {
      assertThat(imageStatus(name)).as("ImageStatus of %s", name).isEmpty();
      c.remove(name);
    }
    assertThat(c.verboseInfo(TEST_IMAGE_WITH_TAG)).as("verbose ImageStatus of a missing image").isEmpty();
  }

  // ---------------------------------------------------------------- image.go and framework/util.go: the helpers

  /**
   * framework.PrepareImageName with the default registry prefix: a fully qualified name stays as
   * it is, and one without {@code :} gets {@code :latest}.
   */
  private static String prepareImageName(String imageName) {
    return imageName.contains(":") ? imageName : imageName + ":latest";
  }

  /** framework.PullPublicImage: returns the image ID. */
  private static String pullPublicImage(String imageName) {
    return c.pull(prepareImageName(imageName), null, TEST_IMAGE_POD_SANDBOX, PULL_DEADLINE);
  }

  /** framework.ImageStatus: the image, or empty when the response has none. */
  private static Optional<Api.Image> imageStatus(String imageName) {
    return c.status(imageName);
  }

  /** framework.ListImage with an empty {@code ImageFilter}. */
  private static List<Api.Image> listImage() {
    return c.list(Api.ImageFilter.getDefaultInstance());
  }

  /** testPullPublicImage. */
  private static void testPullPublicImage(String imageName, Consumer<Api.Image> statusCheck) {
    // Make sure image does not exist before testing.
    removeImage(imageName);

    pullPublicImage(imageName);

    // Check image list to make sure pulling image success
    Api.Image status = imageStatus(imageName).orElse(null);
    assertThat(status).as("Should have one image in list").isNotNull();
    assertThat(status.getId()).as("Image Id should not be empty").isNotEmpty();
    assertThat(status.getSize()).as("Image Size should be > 0").isPositive();
    if (statusCheck != null) {
      statusCheck.accept(status);
    }

    testRemoveImage(imageName);
  }

  /** testRemoveImage: removeImage, then ImageStatus has no image. */
  private static void testRemoveImage(String imageName) {
    removeImage(imageName);
    assertThat(imageStatus(imageName)).as("Should have none image in list").isEmpty();
  }

  /** pullImageList: the IDs in the order of the list. */
  private static List<String> pullImageList(List<String> imageList) {
    List<String> ids = new ArrayList<>();
    for (String imageName : imageList) {
      ids.add(pullPublicImage(imageName));
    }
    return ids;
  }

  private static void removeImageList(List<String> imageList) {
    imageList.forEach(CriImageManagerConformanceTest::removeImage);
  }

  /** removeImage: by the ID that ImageStatus gives, when there is an image. */
  private static void removeImage(String imageName) {
    imageStatus(imageName).ifPresent(image -> c.remove(image.getId()));
  }

  /**
   * bin/lamina's class-data archive for a client verb comes from its first successful call to the
   * daemon, dumped once that call has returned: a run that fails early (no daemon at the socket) or only prints help loads a fraction of
   * the classes, and an archive made from it would slow every later run down.
   */
  @Test
  @Order(13)
  void theLauncherKeepsAClassArchiveOnlyFromASuccessfulCall() throws Exception {
    Path launcher = ContainerdHarness.projectRoot().resolve("bin/lamina");
    Path cache = Files.createDirectories(tmp.resolve("launcher-cache"));
    Map<String, String> env = Map.of("LAMINA_CACHE_DIR", cache.toString());

    Commands.Result failed = Commands.run(null, Duration.ofMinutes(2), env,
        List.of(launcher.toString(), "images", "--socket", tmp.resolve("nothing-here.sock").toString()));
    assertThat(failed.exitCode()).as("images against no daemon: %s", failed).isNotZero();
    assertThat(archives(cache)).as("archives after a failed run").isEmpty();

    Commands.run(null, Duration.ofMinutes(2), env, List.of(launcher.toString(), "images", "--help")).check();
    assertThat(archives(cache)).as("archives after a help run").isEmpty();

    Commands.Result first = Commands.run(null, Duration.ofMinutes(2), env,
        List.of(launcher.toString(), "images", "--socket", lamina.criSocket().toString())).check();
    assertThat(first.stdout()).startsWith("IMAGE");
    // the archive is dumped after the first run has returned, in the background
    long deadline = System.nanoTime() + Duration.ofMinutes(1).toNanos();
    while (!(archives(cache).size() == 1 && archives(cache).get(0).endsWith(".jsa")) && System.nanoTime() < deadline) {
      Thread.sleep(100);
    }
    assertThat(archives(cache)).as("archives (and nothing else) after a successful run").singleElement()
        .satisfies(name -> assertThat(name).startsWith("images-").endsWith(".jsa"));

    Commands.Result again = Commands.run(null, Duration.ofMinutes(2), env,
        List.of(launcher.toString(), "images", "--socket", lamina.criSocket().toString())).check();
    assertThat(again.stdout()).startsWith("IMAGE");
  }

  private static List<String> archives(Path dir) throws IOException {
    try (var files = Files.list(dir)) {
      return files.map(f -> f.getFileName().toString()).toList();
    }
  }
}
