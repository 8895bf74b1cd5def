package dev.lamina.cri;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lamina.server.UnixSockets;
import dev.lamina.cli.CommandRun;
import dev.lamina.cli.Main;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.images.ImageRecord;
import dev.lamina.remotes.auth.Credentials;
import dev.lamina.services.ErrorMappingInterceptor;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.EpollIoHandler;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code lamina} CRI commands as an operator runs them, through {@link Main#run}, against a real
 * gRPC server on a unix socket (grpc-netty, epoll) serving {@link CriImageService} over the fake
 * image manager.
 */
class CriCommandsTest {
  static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path tmp;
  Path socket;
  final FakeImageManager images = new FakeImageManager();
  CriImageService service;
  PullsService pulls;
  EventLoopGroup group;
  Server server;

  final ImageRecord busybox = Images.image("busybox", "", 4_266_000, "docker.io/library/busybox:1.36",
      "docker.io/library/busybox:latest");
  final ImageRecord nginx = Images.image("nginx", "101", 70_123_456, "docker.io/library/nginx:1.27");
  final ImageRecord app = Images.image("app", "nobody", 999, "localhost:5000/team/app:v1");

  @BeforeEach
  void serve() throws Exception {
    socket = tmp.resolve("lamina.sock");
    service = new CriImageService(images);
    pulls = new PullsService(service);
    group = new MultiThreadIoEventLoopGroup(1, EpollIoHandler.newFactory());
    server = UnixSockets.serverBuilder(socket, group, group)
        .addService(ServerInterceptors.intercept(service, new ErrorMappingInterceptor()))
        .addService(ServerInterceptors.intercept(pulls, new ErrorMappingInterceptor()))
        .build().start();
  }

  @AfterEach
  void stop() throws Exception {
    server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    pulls.close();
    service.close();
    group.shutdownGracefully(0, 1, TimeUnit.SECONDS).sync();
  }

  record Result(int exit, String out, String err) {}

  Result lamina(String... args) {
    String[] all = new String[args.length + 1];
    all[0] = args[0];
    all[1] = "--socket=" + socket;
    System.arraycopy(args, 1, all, 2, args.length - 1);
    return run(all);
  }

  static Result run(String... args) {
    CommandRun r = CommandRun.of(args);
    return new Result(r.exit(), r.out(), withoutServerLogs(r.err()));
  }

  /**
   * Standard error less the log lines of the server, which runs in this JVM and logs there too (and
   * less Netty's SO_KEEPALIVE warning: the CLI quiets it by setting its logger's level before Netty
   * loads, but in this JVM other tests may have created that logger first).
   */
  static String withoutServerLogs(String err) {
    return err.lines().filter(l -> !l.matches("\\[[^]]*\\] (TRACE|DEBUG|INFO|WARN|ERROR) (dev\\.lamina|io\\.netty|io\\.grpc)\\..*"))
        .map(l -> l + "\n").collect(java.util.stream.Collectors.joining());
  }

  static String shortId(ImageRecord r) {
    return r.id().hex().substring(0, 13);
  }

  // ---- images ----

  @Test
  void imagesPrintsCrictlsTable() {
    images.add(nginx).add(busybox).add(app);
    Result r = lamina("images");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).isEqualTo(String.join("\n",
        "IMAGE                       TAG       IMAGE ID        SIZE",
        "docker.io/library/busybox   1.36      " + shortId(busybox) + "   4.27MB",
        "docker.io/library/busybox   latest    " + shortId(busybox) + "   4.27MB",
        "docker.io/library/nginx     1.27      " + shortId(nginx) + "   70.1MB",
        "localhost:5000/team/app     v1        " + shortId(app) + "   999B",
        ""));
  }

  @Test
  void imagesWithDigestsAndAFilter() {
    images.add(nginx).add(busybox);
    Result r = lamina("images", "--digests", "busybox:1.36");
    assertThat(r.exit()).as(r.err()).isZero();
    List<String> lines = r.out().lines().toList();
    assertThat(lines.get(0)).matches("IMAGE\\s+TAG\\s+DIGEST\\s+IMAGE ID\\s+SIZE");
    assertThat(lines).hasSize(3);
    assertThat(lines.get(1).split("\\s+")).containsExactly("docker.io/library/busybox", "1.36",
        busybox.manifestDigest().hex().substring(0, 13), shortId(busybox), "4.27MB");
    assertThat(lamina("images", "alpine").out().lines()).hasSize(1);
  }

  @Test
  void untaggedImagesShowTheirRepositoryAndNone() {
    ImageRecord pinnedByDigest = new ImageRecord(app.id(), List.of(), List.of("localhost:5000/team/app@"
        + app.manifestDigest()), app.size(), app.config(), app.manifestDigest(), app.chainIds(), false);
    images.add(pinnedByDigest);
    Result r = lamina("images");
    assertThat(r.out().lines().toList().get(1).split("\\s+"))
        .containsExactly("localhost:5000/team/app", "<none>", shortId(app), "999B");
    assertThat(lamina("images", "-q").out()).isEqualTo(app.id() + "\n");
  }

  @Test
  void imagesJsonIsTheListImagesResponse() throws Exception {
    images.add(nginx);
    Result r = lamina("images", "--json");
    assertThat(r.exit()).as(r.err()).isZero();
    JsonNode image = JSON.readTree(r.out()).path("images").get(0);
    assertThat(image.path("id").asText()).isEqualTo(nginx.id().toString());
    assertThat(image.path("repoTags").get(0).asText()).isEqualTo("docker.io/library/nginx:1.27");
    assertThat(image.path("size").asText()).as("uint64 as protobuf JSON writes it").isEqualTo("70123456");
    assertThat(image.path("uid").path("value").asText()).isEqualTo("101");
    assertThat(image.path("username").asText()).isEmpty();
    assertThat(image.path("pinned").asBoolean(true)).isFalse();
    assertThat(image.has("spec")).as("unset messages are left out").isFalse();
  }

  // ---- pull ----

  @Test
  void pullSaysItPulledAFreshImageAndUpToDateOnlyForOneAlreadyHere() throws Exception {
    images.publish("docker.io/library/busybox:1.36", busybox);
    Result r = lamina("pull", "busybox:1.36");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).matches("Pulled docker\\.io/library/busybox:1\\.36 in [0-9.]+s: 0 layers fetched \\(0 B\\),"
        + " 0 reused; image " + busybox.id() + "\n");
    assertThat(r.err()).as("no progress without a terminal").isEmpty();

    Result again = lamina("pull", "busybox:1.36");
    assertThat(again.out()).isEqualTo("Image is up to date for " + busybox.id() + "\n");

    Result json = lamina("pull", "--json", "busybox:1.36");
    assertThat(JSON.readTree(json.out()).path("imageRef").asText()).isEqualTo(busybox.id().toString());
    assertThat(JSON.readTree(json.out()).size()).as("the --json shape of PullImage").isEqualTo(1);
  }

  @Test
  void pullFallsBackToPullImageOnASocketWithoutLaminasPullApi() throws Exception {
    images.publish("docker.io/library/busybox:1.36", busybox);
    Path criOnly = tmp.resolve("cri-only.sock");
    Server plain = UnixSockets.serverBuilder(criOnly, group, group)
        .addService(ServerInterceptors.intercept(service, new ErrorMappingInterceptor()))
        .build().start();
    try {
      Result r = run("pull", "--socket=" + criOnly, "busybox:1.36");
      assertThat(r.exit()).as(r.err()).isZero();
      assertThat(r.out()).matches("Pulled busybox:1\\.36 in [0-9.]+s; image " + busybox.id() + "\n");
      assertThat(images.find("docker.io/library/busybox:1.36")).isPresent();
    } finally {
      plain.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  @Test
  void pullSendsTheCredentialsGiven() {
    images.publish("docker.io/library/busybox:1.36", busybox);
    assertThat(lamina("pull", "--creds", "alice:pa:ss", "busybox:1.36").exit()).isZero();
    String auth = Base64.getEncoder().encodeToString("bob:pw".getBytes(StandardCharsets.UTF_8));
    assertThat(lamina("pull", "--auth", auth, "--server-address", "docker.io", "busybox:1.36").exit()).isZero();
    assertThat(lamina("pull", "--registry-token", "tok", "busybox:1.36").exit()).isZero();
    assertThat(lamina("pull", "busybox:1.36").exit()).isZero();
    assertThat(images.credentials).containsExactly(
        Credentials.basic("alice", "pa:ss"),
        new Credentials("", "", auth, "docker.io", "", ""),
        Credentials.registryToken("tok"),
        Credentials.anonymous());
  }

  @Test
  void pullRejectsTwoKindsOfCredentials() {
    Result r = lamina("pull", "--creds", "a:b", "--auth", "eDp5", "busybox");
    assertThat(r.exit()).isEqualTo(2);
    assertThat(r.err()).contains("only one of --creds, --auth and --username");
    assertThat(images.pulls).isEmpty();
  }

  @Test
  void pullErrorsShowTheCodeAndDescription() {
    Result missing = lamina("pull", "nosuch:1");
    assertThat(missing.exit()).isEqualTo(1);
    assertThat(missing.err()).startsWith("lamina: pull nosuch:1: NOT_FOUND: ")
        .contains("docker.io/library/nosuch:1").doesNotContain("\tat ");

    images.failPull("docker.io/library/private:1", new LaminaException(ErrorKind.UNAUTHENTICATED, "401 Unauthorized"));
    Result denied = lamina("pull", "--creds", "alice:topsecret", "private:1");
    assertThat(denied.exit()).isEqualTo(1);
    assertThat(denied.err()).contains("UNAUTHENTICATED").contains("401 Unauthorized")
        .contains("refused the credentials").doesNotContain("topsecret");

    Result invalid = lamina("pull", "Not/Valid");
    assertThat(invalid.exit()).isEqualTo(1);
    assertThat(invalid.err()).contains("INVALID_ARGUMENT").contains("Not/Valid");
  }

  // ---- inspecti ----

  @Test
  void inspectiPrintsStatusAndInfoAsJson() throws Exception {
    images.add(nginx);
    Result r = lamina("inspecti", "nginx:1.27");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).startsWith("{\n  \"status\": {\n    \"id\": \"" + nginx.id() + "\",\n");
    JsonNode j = JSON.readTree(r.out());
    assertThat(j.path("status").path("repoDigests").get(0).asText())
        .isEqualTo("docker.io/library/nginx@" + nginx.manifestDigest());
    JsonNode info = j.path("info").path("info");
    assertThat(info.path("imageSpec").path("config").path("User").asText()).isEqualTo("101");
    assertThat(info.path("chainID").asText()).isEqualTo(nginx.chainIds().get(1).toString());
    assertThat(info.path("manifestDigest").asText()).isEqualTo(nginx.manifestDigest().toString());

    assertThat(JSON.readTree(lamina("inspecti", "--json", shortId(nginx)).out())).isEqualTo(j);
  }

  @Test
  void inspectiOfSeveralImagesIsAnArray() throws Exception {
    images.add(nginx).add(busybox);
    Result r = lamina("inspecti", "nginx:1.27", "busybox:latest");
    assertThat(r.exit()).as(r.err()).isZero();
    JsonNode j = JSON.readTree(r.out());
    assertThat(j.isArray()).isTrue();
    assertThat(j.get(1).path("status").path("id").asText()).isEqualTo(busybox.id().toString());
  }

  @Test
  void inspectiOfAMissingImageFails() {
    Result r = lamina("inspecti", "busybox");
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.err()).isEqualTo("lamina: no such image \"busybox\" present\n");
  }

  // ---- rmi ----

  @Test
  void rmiPrintsEveryNameDeleted() {
    images.add(busybox).add(nginx);
    Result r = lamina("rmi", "busybox:1.36", nginx.id().toString());
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).isEqualTo("Deleted: docker.io/library/busybox:1.36\nDeleted: docker.io/library/busybox:latest\n"
        + "Deleted: docker.io/library/nginx:1.27\n");
    assertThat(r.err()).contains("has 2 tags; removing it removes all of them");
    assertThat(images.removed).containsExactly(busybox.id().toString(), nginx.id().toString());
  }

  @Test
  void rmiOfAMissingImageFailsButRemovesTheOthers() {
    images.add(nginx);
    Result r = lamina("rmi", "nosuch", "nginx:1.27");
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.out()).isEqualTo("Deleted: docker.io/library/nginx:1.27\n");
    assertThat(r.err()).contains("no such image nosuch");
    assertThat(images.removed).containsExactly(nginx.id().toString());
  }

  // ---- imagefsinfo ----

  @Test
  void imagefsinfoHumanAndJson() throws Exception {
    Result r = lamina("imagefsinfo");
    assertThat(r.exit()).as(r.err()).isZero();
    assertThat(r.out()).contains("Image filesystem").contains("Mountpoint:   /var/lib/lamina")
        .contains("Used:         123MB (123456789 bytes)").contains("Inodes used:  4321")
        .contains("2023-11-14T22:13:20.000000042Z").doesNotContain("Container");

    JsonNode j = JSON.readTree(lamina("imagefsinfo", "--json").out());
    JsonNode fs = j.path("imageFilesystems").get(0);
    assertThat(fs.path("timestamp").asText()).isEqualTo("1700000000000000042");
    assertThat(fs.path("fsId").path("mountpoint").asText()).isEqualTo("/var/lib/lamina");
    assertThat(fs.path("usedBytes").path("value").asText()).isEqualTo("123456789");
    assertThat(fs.path("inodesUsed").path("value").asText()).isEqualTo("4321");
    assertThat(j.path("containerFilesystems")).isEmpty();
  }

  // ---- connecting ----

  @Test
  void noDaemonSaysWhatToDo() {
    Path nowhere = tmp.resolve("nowhere.sock");
    for (String command : List.of("images", "pull", "inspecti", "rmi", "imagefsinfo")) {
      Result r = command.equals("images") || command.equals("imagefsinfo")
          ? run(command, "--socket", nowhere.toString())
          : run(command, "--socket", nowhere.toString(), "busybox");
      assertThat(r.exit()).as(command).isEqualTo(1);
      assertThat(r.err()).as(command).isEqualTo("lamina: cannot connect to " + nowhere + ": no such socket; "
          + "is `lamina serve` running? (use --socket or $LAMINA_SOCKET for another socket)\n");
    }
  }

  @Test
  void aSocketNobodyListensOnSaysWhatToDo() throws Exception {
    Path stale = tmp.resolve("stale.sock");
    try (var ch = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
      ch.bind(java.net.UnixDomainSocketAddress.of(stale));
    }
    assertThat(Files.exists(stale)).isTrue();
    Result r = run("images", "--socket", "unix://" + stale);
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.err()).startsWith("lamina: cannot connect to " + stale + ": ").contains("is `lamina serve` running?");
  }

  @Test
  void unimplementedOrFailingServerCallsShowTheirCode() {
    images.failEverything = new LaminaException(ErrorKind.FAILED_PRECONDITION, "metadata.db needs a migration");
    Result r = lamina("images");
    assertThat(r.exit()).isEqualTo(1);
    assertThat(r.err()).isEqualTo("lamina: list images: FAILED_PRECONDITION: metadata.db needs a migration\n");
  }
}
