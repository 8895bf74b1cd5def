package dev.lamina.e2e;

import static dev.lamina.fstest.FsTree.dir;
import static dev.lamina.fstest.FsTree.file;
import static dev.lamina.fstest.FsTree.link;
import static dev.lamina.fstest.FsTree.remove;
import static dev.lamina.fstest.FsTree.symlink;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.lamina.containerd.snapshots.v1.Info;
import dev.lamina.containerd.snapshots.v1.Kind;
import dev.lamina.containerd.types.Mount;
import dev.lamina.cri.runtime.v1.Api;
import dev.lamina.fstest.FsTree;
import dev.lamina.fstest.Root;
import dev.lamina.fstest.TreeAssert;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.extension.TestWatcher;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Pulls through lamina's real path, a {@code lamina serve} process driven over its CRI socket (and
 * once through {@code lamina pull}), from Debian's {@code docker-registry} (distribution 2.8):
 *
 * <ul>
 *   <li>behind htpasswd basic auth (a bcrypt file from {@code htpasswd -B});
 *   <li>behind token auth, with a token issuer of the test's own ({@link RegistryTokenIssuer});
 *   <li>SIGKILLed in the middle of a large layer, seen through a {@link ThrottlingRelay}, and
 *       started again on the same port and storage;
 *   <li>serving a layer blob whose bytes were changed in its storage;
 *   <li>asked for repositories, tags and digests it does not have.
 * </ul>
 *
 * <p>Every image is built with umoci and unique to its test (its layers too), so no test finds
 * layers another one pulled; what lamina unpacked is compared with {@code umoci unpack} through a
 * view made with lamina's Snapshots API. One lamina (debug logging for lamina's own loggers) serves
 * the whole class; its log must never hold a password, an {@code auth} value or a token.
 *
 * <p>Found so far: token requests carried the scope of whichever repository the registry's last
 * challenge had named (another pull's), which the token tests pin down.
 */
class RegistryPullTest {
  private static final String TAG = "1";
  private static final Duration PULL_DEADLINE = Duration.ofMinutes(2);
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final long MIB = 1024 * 1024;
  /** The large layer's payload: random, so gzip cannot make it smaller. */
  private static final int LARGE = (int) (32 * MIB);
  /** What the relay lets through per connection: a large layer takes about four seconds. */
  private static final long RELAY_RATE = 8 * MIB;
  /**
   * The shortest time lamina's default retries (5 tries, 200 ms doubling, half of each wait random)
   * keep trying to reach a registry that went away: 100 + 200 + 400 + 800 ms.
   */
  private static final Duration SHORTEST_RETRY_WINDOW = Duration.ofMillis(1500);

  private static final String BASIC_USER = "alice";
  private static final String BASIC_PASSWORD = "basic-" + UUID.randomUUID();
  private static final String TOKEN_USER = "bob";
  private static final String TOKEN_PASSWORD = "token-" + UUID.randomUUID();
  private static final String NO_ACCESS_USER = "carol";
  private static final String NO_ACCESS_PASSWORD = "carol-" + UUID.randomUUID();
  private static final String SERVICE = "lamina-e2e-registry";
  private static final String ISSUER = "lamina-e2e-issuer";

  @TempDir static Path tmp;

  private static ContainerdLaminaProcess lamina;
  private static CriImagesClient cri;
  private static ContainerdSnapshotsClient snapshots;
  private static DockerRegistry plain;
  private static DockerRegistry basic;
  private static DockerRegistry token;
  private static RegistryTokenIssuer issuer;
  /** Every secret a test handed to lamina; none may reach its log. */
  private static final List<String> SECRETS = new CopyOnWriteArrayList<>();
  private static final AtomicInteger VIEWS = new AtomicInteger();
  /** Why a fixture could not be made, so later tests fail fast instead of half-building it again. */
  private static Throwable fixtureFailure;

  /** On a failure, the end of lamina's log goes to the test's output. */
  @RegisterExtension
  static final TestWatcher LAMINA_LOG_ON_FAILURE = ContainerdLaminaProcess.logOnFailure(() -> lamina, 150);

  @BeforeAll
  static void prerequisites() {
    Umoci.assumeInstalled();
    assumeTrue(DockerRegistry.installed(), DockerRegistry.MISSING);
    ContainerdLaminaProcess.assumeBuilt();
  }

  @AfterAll
  static void tearDown() throws IOException {
    ContainerdHarness.closeAllThenUnmount(tmp, cri, snapshots, lamina, plain, basic, token, issuer);
  }

  // ------------------------------------------------------------------ fixtures

  private interface Maker<T> {
    T make() throws Exception;
  }

  private static synchronized <T> T fixture(Maker<T> maker) throws Exception {
    if (fixtureFailure != null) {
      throw new IllegalStateException("a fixture failed in an earlier test", fixtureFailure);
    }
    try {
      return maker.make();
    } catch (Exception | Error e) {
      fixtureFailure = e;
      throw e;
    }
  }

  /** lamina serve (snapshotter auto: overlay as root where it mounts), with clients of both sockets. */
  private static synchronized CriImagesClient cri() throws Exception {
    if (cri == null) {
      fixture(() -> {
        Path dir = Files.createDirectories(tmp.resolve("lamina"));
        lamina = ContainerdLaminaProcess.start(dir.resolve("root"), dir.resolve("snapshots.sock"), "auto",
            dir.resolve("lamina.log"), List.of("-Dorg.slf4j.simpleLogger.log.dev.lamina=debug"));
        lamina.awaitCriSocket(Duration.ofSeconds(30));
        snapshots = ContainerdSnapshotsClient.lamina(lamina.socket());
        cri = CriImagesClient.connect(lamina.criSocket());
        return cri;
      });
    }
    return cri;
  }

  private static synchronized DockerRegistry plain() throws Exception {
    if (plain == null) {
      plain = fixture(() -> DockerRegistry.start(tmp.resolve("registry-plain")));
    }
    return plain;
  }

  private static synchronized DockerRegistry basic() throws Exception {
    assumeTrue(Commands.succeeds("sh", "-c", "command -v htpasswd"),
        "htpasswd not installed (apt-get install apache2-utils)");
    if (basic == null) {
      basic = fixture(() -> {
        Path dir = Files.createDirectories(tmp.resolve("registry-basic"));
        Path file = dir.resolve("htpasswd");
        // -B: bcrypt, the only hash distribution's htpasswd accepts; -b: the password from the command line
        String line = Commands.run("htpasswd", "-nbB", BASIC_USER, BASIC_PASSWORD).check().stdout().strip();
        assertThat(line).startsWith(BASIC_USER + ":$2");
        Files.writeString(file, line + "\n", StandardCharsets.UTF_8);
        return DockerRegistry.start(dir, DockerRegistry.Auth.htpasswd("lamina-e2e", file));
      });
    }
    return basic;
  }

  private static synchronized DockerRegistry token() throws Exception {
    assumeTrue(RegistryTokenIssuer.keytoolInstalled(), "the JDK's keytool is missing: it makes the issuer's key");
    if (token == null) {
      token = fixture(() -> {
        issuer = RegistryTokenIssuer.start(tmp.resolve("issuer"), ISSUER);
        issuer.addUser(TOKEN_USER, TOKEN_PASSWORD);
        issuer.addUserWithoutAccess(NO_ACCESS_USER, NO_ACCESS_PASSWORD);
        return DockerRegistry.start(tmp.resolve("registry-token"),
            DockerRegistry.Auth.token(issuer.realm(), SERVICE, ISSUER, issuer.rootCertBundle()));
      });
    }
    return token;
  }

  // ------------------------------------------------------------------ basic auth

  @Test
  void basicAuthWithUsernameAndPasswordPullsTheImageUmociPacked() throws Exception {
    CriImagesClient c = cri();
    ContainerdTestImages.Built img = image("basic-userpass", 0);
    String ref = basic().push(img.layout(), TAG, "basic/userpass", BASIC_USER + ":" + BASIC_PASSWORD);
    SECRETS.add(BASIC_PASSWORD);

    String id = c.pull(ref, CriImagesClient.userPassword(BASIC_USER, BASIC_PASSWORD), PULL_DEADLINE);

    assertThat(id).isEqualTo(img.image().configDigest());
    assertRootfsIsUmocis(ref, img);
    assertNoSecretInLog();
  }

  @Test
  void basicAuthWithTheAuthFieldPullsTheImageUmociPacked() throws Exception {
    CriImagesClient c = cri();
    ContainerdTestImages.Built img = image("basic-auth-field", 0);
    String ref = basic().push(img.layout(), TAG, "basic/auth-field", BASIC_USER + ":" + BASIC_PASSWORD);
    Api.AuthConfig auth = CriImagesClient.auth(BASIC_USER, BASIC_PASSWORD);
    SECRETS.add(BASIC_PASSWORD);
    SECRETS.add(auth.getAuth());

    String id = c.pull(ref, auth, PULL_DEADLINE);

    assertThat(id).isEqualTo(img.image().configDigest());
    assertRootfsIsUmocis(ref, img);
    assertNoSecretInLog();
  }

  @Test
  void basicAuthThroughTheCommandLine() throws Exception {
    cri();
    ContainerdTestImages.Built img = image("basic-cli", 0);
    String ref = basic().push(img.layout(), TAG, "basic/cli", BASIC_USER + ":" + BASIC_PASSWORD);
    String wrong = "cli-wrong-" + UUID.randomUUID();
    SECRETS.add(BASIC_PASSWORD);
    SECRETS.add(wrong);

    Commands.Result refused = laminaCli("pull", "--socket", lamina.criSocket().toString(),
        "--creds", BASIC_USER + ":" + wrong, ref);
    assertThat(refused.exitCode()).as("lamina pull with a wrong password: %s", refused).isEqualTo(1);
    assertThat(refused.stderr()).contains("UNAUTHENTICATED").contains(basic.host()).doesNotContain(wrong);
    assertThat(refused.stdout() + refused.stderr()).doesNotContain(wrong);

    Commands.Result ok = laminaCli("pull", "--socket", lamina.criSocket().toString(),
        "--creds", BASIC_USER + ":" + BASIC_PASSWORD, ref);
    ok.check();
    assertThat(ok.stdout().strip()).startsWith("Pulled " + ref + " in ").contains(" 2 layers fetched ")
        .endsWith("; image " + img.image().configDigest());
    assertRootfsIsUmocis(ref, img);
    assertNoSecretInLog();
  }

  @Test
  void basicAuthWithAWrongPasswordIsUnauthenticatedAndNamesTheRegistry() throws Exception {
    CriImagesClient c = cri();
    ContainerdTestImages.Built img = image("basic-wrong", 0);
    String ref = basic().push(img.layout(), TAG, "basic/wrong", BASIC_USER + ":" + BASIC_PASSWORD);
    String wrong = "wrong-" + UUID.randomUUID();
    Api.AuthConfig wrongAuth = CriImagesClient.auth(BASIC_USER, wrong);
    SECRETS.add(wrong);
    SECRETS.add(wrongAuth.getAuth());

    for (Api.AuthConfig auth : List.of(CriImagesClient.userPassword(BASIC_USER, wrong), wrongAuth)) {
      Status s = pullFails(c, ref, auth);
      assertThat(s.getCode()).as("%s", s).isEqualTo(Status.Code.UNAUTHENTICATED);
      assertThat(s.getDescription()).contains(basic.host()).contains("401").containsOnlyOnce("refused the credentials")
          .doesNotContain(wrong).doesNotContain(wrongAuth.getAuth()).doesNotContain(BASIC_PASSWORD);
    }
    assertThat(c.status(ref)).as("no image after refused pulls").isEmpty();
    assertNoSecretInLog();
  }

  @Test
  void basicAuthWithoutCredentialsIsUnauthenticated() throws Exception {
    CriImagesClient c = cri();
    ContainerdTestImages.Built img = image("basic-anonymous", 0);
    String ref = basic().push(img.layout(), TAG, "basic/anonymous", BASIC_USER + ":" + BASIC_PASSWORD);

    Status s = pullFails(c, ref, null);

    assertThat(s.getCode()).as("%s", s).isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(s.getDescription()).contains(basic.host()).containsOnlyOnce("no credentials were given")
        .contains("imagePullSecrets");
    assertThat(c.status(ref)).isEmpty();
  }

  // ------------------------------------------------------------------ token auth

  @Test
  void tokenAuthPullsWithATokenForThePullScope() throws Exception {
    CriImagesClient c = cri();
    ContainerdTestImages.Built img = image("token-pull", 0);
    String ref = token().push(img.layout(), TAG, "token/pull", TOKEN_USER + ":" + TOKEN_PASSWORD);
    SECRETS.add(TOKEN_PASSWORD);
    issuer.clearRequests();

    String id = c.pull(ref, CriImagesClient.userPassword(TOKEN_USER, TOKEN_PASSWORD), PULL_DEADLINE);

    assertThat(id).isEqualTo(img.image().configDigest());
    List<RegistryTokenIssuer.Request> asked = issuer.requests();
    assertThat(asked).as("token requests").isNotEmpty().allSatisfy(r -> {
      assertThat(r.service()).isEqualTo(SERVICE);
      assertThat(r.scopes()).containsExactly("repository:token/pull:pull");
      assertThat(r.user()).isEqualTo(TOKEN_USER);
      assertThat(r.account()).isEqualTo(TOKEN_USER);
      assertThat(r.status()).isEqualTo(200);
    });
    assertThat(asked).as("one token serves the whole pull").hasSize(1);
    assertRootfsIsUmocis(ref, img);
    SECRETS.addAll(issuer.issuedTokens());
    assertNoSecretInLog();
  }

  @Test
  void tokenAuthAnonymousIsUnauthenticatedWhenTheIssuerRefusesAnonymousTokens() throws Exception {
    CriImagesClient c = cri();
    ContainerdTestImages.Built img = image("token-anonymous", 0);
    String ref = token().push(img.layout(), TAG, "token/anonymous", TOKEN_USER + ":" + TOKEN_PASSWORD);
    issuer.clearRequests();

    Status s = pullFails(c, ref, null);

    assertThat(s.getCode()).as("%s", s).isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(s.getDescription()).contains(token.host()).contains("anonymous access is not allowed");
    assertThat(issuer.requests()).as("what the issuer was asked").isNotEmpty().allSatisfy(r -> {
      assertThat(r.user()).isNull();
      assertThat(r.service()).isEqualTo(SERVICE);
      assertThat(r.scopes()).containsExactly("repository:token/anonymous:pull");
      assertThat(r.status()).isEqualTo(401);
    });
    assertThat(c.status(ref)).isEmpty();
  }

  @Test
  void tokenAuthWithAWrongPasswordIsUnauthenticated() throws Exception {
    CriImagesClient c = cri();
    ContainerdTestImages.Built img = image("token-wrong", 0);
    String ref = token().push(img.layout(), TAG, "token/wrong", TOKEN_USER + ":" + TOKEN_PASSWORD);
    String wrong = "wrong-" + UUID.randomUUID();
    SECRETS.add(wrong);
    issuer.clearRequests();

    Status s = pullFails(c, ref, CriImagesClient.userPassword(TOKEN_USER, wrong));

    assertThat(s.getCode()).as("%s", s).isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(s.getDescription()).contains(token.host()).contains("invalid username or password")
        .doesNotContain(wrong);
    assertThat(issuer.requests()).isNotEmpty().allSatisfy(r -> assertThat(r.status()).isEqualTo(401));
    assertThat(c.status(ref)).isEmpty();
    assertNoSecretInLog();
  }

  /**
   * A token without the pull grant is refused by the registry itself (its {@code access} claim is
   * checked), which also shows that the grants of the other tests are what let their pulls in.
   */
  @Test
  void tokenAuthWithATokenThatGrantsNothingIsUnauthenticated() throws Exception {
    CriImagesClient c = cri();
    ContainerdTestImages.Built img = image("token-no-access", 0);
    String ref = token().push(img.layout(), TAG, "token/no-access", TOKEN_USER + ":" + TOKEN_PASSWORD);
    SECRETS.add(NO_ACCESS_PASSWORD);
    issuer.clearRequests();

    Status s = pullFails(c, ref, CriImagesClient.userPassword(NO_ACCESS_USER, NO_ACCESS_PASSWORD));

    assertThat(s.getCode()).as("%s", s).isEqualTo(Status.Code.UNAUTHENTICATED);
    assertThat(s.getDescription()).contains(token.host()).contains("insufficient_scope");
    assertThat(issuer.requests()).isNotEmpty().allSatisfy(r -> {
      assertThat(r.user()).isEqualTo(NO_ACCESS_USER);
      assertThat(r.status()).isEqualTo(200);
      assertThat(r.granted()).isEmpty();
    });
    assertThat(c.status(ref)).isEmpty();
    SECRETS.addAll(issuer.issuedTokens());
    assertNoSecretInLog();
  }

  // ------------------------------------------------------------------ registry killed mid-pull

  /**
   * The registry dies while a large layer streams and is back on the same port at once: lamina
   * resumes the layer with a {@code Range} request inside its retries, and the pull succeeds
   * without downloading the layer again.
   */
  @Test
  void registryKilledMidLayerAndRestartedAtOnceIsResumedWithinThePull() throws Exception {
    CriImagesClient c = cri();
    ContainerdTestImages.Built img = image("killed-restarted", LARGE);
    OciImage.Layer large = largest(img);
    try (DockerRegistry registry = DockerRegistry.start(tmp.resolve("registry-killed"));
        ThrottlingRelay relay = ThrottlingRelay.start(registry.port(), RELAY_RATE)) {
      registry.push(img.layout(), TAG, "big/killed");
      String ref = relay.host() + "/big/killed:" + TAG;

      CompletableFuture<String> pull = pullAsync(c, ref);
      long cut = awaitRelayed(relay, large.size() / 4, pull);
      registry.kill();
      long down = System.nanoTime();
      registry.restart();
      Duration outage = Duration.ofNanos(System.nanoTime() - down);

      String id;
      boolean resumedInPull;
      try {
        id = pull.get(PULL_DEADLINE.toSeconds(), TimeUnit.SECONDS);
        resumedInPull = true;
      } catch (ExecutionException e) {
        Status s = Status.fromThrowable(e.getCause());
        assertThat(s.getCode()).as("a pull cut off by the registry's death: %s", s).isEqualTo(Status.Code.UNAVAILABLE);
        resumedInPull = false;
        id = c.pull(ref, null, PULL_DEADLINE);
      }
      if (outage.compareTo(SHORTEST_RETRY_WINDOW.minusMillis(300)) < 0) {
        assertThat(resumedInPull).as("the registry was back after %d ms, well within lamina's retries",
            outage.toMillis()).isTrue();
      }
      assertThat(id).isEqualTo(img.image().configDigest());
      assertResumedWithARange(relay, "big/killed", large, cut);
      assertThat(ingests()).as("ingests left in the content store").isEmpty();
      assertRootfsIsUmocis(ref, img);
    }
  }

  /**
   * The registry stays away longer than lamina retries: the pull fails UNAVAILABLE and keeps what
   * it received in the content store's ingest; once the registry is back, the next pull resumes the
   * ingest where it ended ({@code Range}) and commits it, leaving no ingest behind.
   */
  @Test
  void registryKilledMidLayerForLongerThanTheRetriesFailsUnavailableAndTheNextPullResumes() throws Exception {
    CriImagesClient c = cri();
    ContainerdTestImages.Built img = image("killed-for-long", LARGE);
    OciImage.Layer large = largest(img);
    try (DockerRegistry registry = DockerRegistry.start(tmp.resolve("registry-down"));
        ThrottlingRelay relay = ThrottlingRelay.start(registry.port(), RELAY_RATE)) {
      registry.push(img.layout(), TAG, "big/down");
      String ref = relay.host() + "/big/down:" + TAG;

      CompletableFuture<String> pull = pullAsync(c, ref);
      long cut = awaitRelayed(relay, large.size() / 4, pull);
      registry.kill();
      ExecutionException failed = catchThrowableOfType(ExecutionException.class,
          () -> pull.get(PULL_DEADLINE.toSeconds(), TimeUnit.SECONDS));
      assertThat(failed).as("the pull while the registry is away").isNotNull();
      Status s = Status.fromThrowable(failed.getCause());
      assertThat(s.getCode()).as("%s", s).isEqualTo(Status.Code.UNAVAILABLE);
      assertThat(s.getDescription()).contains(relay.host());
      assertThat(c.status(ref)).isEmpty();
      List<Path> kept = ingests();
      assertThat(kept).as("the bytes received stay for the next pull").isNotEmpty();

      registry.restart();
      String id = c.pull(ref, null, PULL_DEADLINE);

      assertThat(id).isEqualTo(img.image().configDigest());
      assertResumedWithARange(relay, "big/down", large, cut);
      assertThat(ingests()).as("ingests left in the content store").isEmpty();
      assertRootfsIsUmocis(ref, img);
    }
  }

  // ------------------------------------------------------------------ corrupted blob

  /** How a layer blob is changed in the registry's storage; its length stays. */
  enum Corruption {
    /** Every byte replaced: no gzip magic, and no tar either. */
    RANDOM_BYTES,
    /** One bit of the gzip trailer's CRC flipped: the layer unpacks, and gzip's check fails at its end. */
    GZIP_TRAILER_CRC,
    /**
     * One bit of the gzip header's MTIME flipped, which no gzip check covers: the layer decompresses
     * to the very tar (its diff ID matches), and only the blob's digest tells.
     */
    GZIP_HEADER_MTIME
  }

  @ParameterizedTest
  @EnumSource(Corruption.class)
  void corruptedBlobIsDataLossNamingTheDigestAndCommitsNothing(Corruption corruption) throws Exception {
    CriImagesClient c = cri();
    String name = "corrupt-" + corruption.name().toLowerCase(Locale.ROOT).replace('_', '-');
    ContainerdTestImages.Built img = image(name, (int) (2 * MIB));
    DockerRegistry registry = plain();
    String ref = registry.push(img.layout(), TAG, "corrupt/" + name);
    OciImage.Layer layer = largest(img);
    Path data = registry.blobData(layer.digest());
    byte[] original = Files.readAllBytes(data);
    assertThat(original).hasSize((int) layer.size());
    byte[] bad = original.clone();
    assertThat(bad[0] & 0xff).as("gzip magic").isEqualTo(0x1f);
    assertThat(bad[1] & 0xff).as("gzip magic").isEqualTo(0x8b);
    switch (corruption) {
      case RANDOM_BYTES -> new Random(7).nextBytes(bad);
      case GZIP_TRAILER_CRC -> bad[bad.length - 8] ^= 1;
      case GZIP_HEADER_MTIME -> bad[4] ^= 1;
    }
    Files.write(data, bad);
    try {
      Status s = pullFails(c, ref, null);
      assertThat(s.getCode()).as("%s", s).isEqualTo(Status.Code.DATA_LOSS);
      assertThat(s.getDescription()).contains(layer.digest()).contains("digest");

      assertThat(c.status(ref)).as("image record").isEmpty();
      for (String chainId : img.chainIds()) {
        assertThat(ContainerdSnapshotsClient.codeOf(() -> snapshots.stat(chainId)))
            .as("snapshot %s", chainId).isEqualTo(Status.Code.NOT_FOUND);
      }
      assertThat(snapshots.list()).as("snapshots left active").noneMatch(i -> i.getKind() != Kind.COMMITTED);
      assertThat(contentBlob(layer.digest())).as("the corrupt blob in the content store").doesNotExist();
      assertThat(ingests()).as("ingests left in the content store").isEmpty();
    } finally {
      Files.write(data, original);
    }

    String id = c.pull(ref, null, PULL_DEADLINE);
    assertThat(id).isEqualTo(img.image().configDigest());
    assertThat(contentBlob(layer.digest())).exists();
    assertThat(ingests()).isEmpty();
    assertRootfsIsUmocis(ref, img);
  }

  // ------------------------------------------------------------------ not found

  @Test
  void unknownRepositoryTagOrDigestIsNotFound() throws Exception {
    CriImagesClient c = cri();
    ContainerdTestImages.Built img = image("not-found", 0);
    DockerRegistry registry = plain();
    registry.push(img.layout(), TAG, "known/repo");
    String absentDigest = "sha256:" + "0".repeat(63) + "1";

    for (String ref : List.of(
        registry.host() + "/no/such/repo:" + TAG,
        registry.host() + "/known/repo:no-such-tag",
        registry.host() + "/known/repo@" + absentDigest)) {
      Status s = pullFails(c, ref, null);
      assertThat(s.getCode()).as("%s: %s", ref, s).isEqualTo(Status.Code.NOT_FOUND);
      assertThat(s.getDescription()).as(ref).contains(ref.substring(ref.indexOf('/') + 1).split("[:@]")[0]);
      assertThat(c.status(ref)).isEmpty();
    }
  }

  @Test
  void unknownTagBehindAuthenticationIsNotFound() throws Exception {
    CriImagesClient c = cri();
    ContainerdTestImages.Built img = image("not-found-auth", 0);
    String basicRef = basic().push(img.layout(), TAG, "auth/known", BASIC_USER + ":" + BASIC_PASSWORD);
    String tokenRef = token().push(img.layout(), TAG, "auth/known", TOKEN_USER + ":" + TOKEN_PASSWORD);
    SECRETS.add(BASIC_PASSWORD);
    SECRETS.add(TOKEN_PASSWORD);

    Status s = pullFails(c, basicRef.replace(":" + TAG, ":no-such-tag"),
        CriImagesClient.userPassword(BASIC_USER, BASIC_PASSWORD));
    assertThat(s.getCode()).as("%s", s).isEqualTo(Status.Code.NOT_FOUND);
    Status t = pullFails(c, tokenRef.replace(":" + TAG, ":no-such-tag"),
        CriImagesClient.userPassword(TOKEN_USER, TOKEN_PASSWORD));
    assertThat(t.getCode()).as("%s", t).isEqualTo(Status.Code.NOT_FOUND);
    assertNoSecretInLog();
  }

  // ------------------------------------------------------------------ helpers

  /**
   * A two-layer image unique to {@code name}: files, a hard link, a symlink, a sticky directory and
   * {@code randomBytes} of random data in the first layer (64 KiB at least); a whiteout and a new
   * file in the second. The oracle is umoci's unpack of it.
   */
  private static ContainerdTestImages.Built image(String name, int randomBytes) throws Exception {
    Path work = tmp.resolve("images").resolve(name);
    Path scratch = Files.createDirectories(work.resolve("scratch"));
    Umoci umoci = Umoci.create(work.resolve("layout"), TAG, scratch);
    byte[] data = new byte[Math.max(randomBytes, 64 * 1024)];
    new Random(name.hashCode()).nextBytes(data);
    umoci.layer(rootfs -> FsTree.apply(rootfs,
        dir("etc", 0755),
        file("etc/hostname", name + "\n", 0644),
        file("etc/unique", UUID.randomUUID() + "\n", 0600),
        file("etc/gone", "removed by the second layer\n", 0644),
        dir("tmp", 01777),
        file("bin/tool", "#!/bin/sh\necho " + name + "\n", 0755),
        file("usr/share/data.bin", data, 0644),
        link("usr/share/data-link.bin", "usr/share/data.bin"),
        symlink("lib", "usr/share")));
    umoci.layer(rootfs -> FsTree.apply(rootfs,
        remove("etc/gone"),
        file("etc/motd", "second layer of " + name + "\n", 0644)));
    Path bundle = work.resolve("oracle");
    umoci.unpack(bundle);
    return new ContainerdTestImages.Built(umoci.layout(), TAG, OciImage.read(umoci.layout(), TAG),
        bundle.resolve("rootfs"));
  }

  private static OciImage.Layer largest(ContainerdTestImages.Built img) {
    return img.image().layers().stream().max(Comparator.comparingLong(OciImage.Layer::size)).orElseThrow();
  }

  /** The status a pull fails with; fails the test when the pull succeeds. */
  private static Status pullFails(CriImagesClient c, String ref, Api.AuthConfig auth) {
    StatusRuntimeException e = catchThrowableOfType(StatusRuntimeException.class,
        () -> c.pull(ref, auth, PULL_DEADLINE));
    assertThat(e).as("pull %s should fail", ref).isNotNull();
    return e.getStatus();
  }

  private static CompletableFuture<String> pullAsync(CriImagesClient c, String ref) {
    CompletableFuture<String> f = new CompletableFuture<>();
    Thread t = new Thread(() -> {
      try {
        f.complete(c.pull(ref, null, PULL_DEADLINE));
      } catch (Throwable e) {
        f.completeExceptionally(e);
      }
    }, "pull " + ref);
    t.setDaemon(true);
    t.start();
    return f;
  }

  /**
   * Waits until the relay passed {@code bytes} to lamina while the pull is still running; returns
   * how many it had passed then.
   */
  private static long awaitRelayed(ThrottlingRelay relay, long bytes, CompletableFuture<String> pull)
      throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (relay.bytesToClients() < bytes) {
      if (pull.isDone()) {
        throw new AssertionError("the pull ended before " + bytes + " bytes passed the relay: "
            + (pull.isCompletedExceptionally() ? pull.handle((v, e) -> e).get() : pull.get()));
      }
      assertThat(System.nanoTime()).as("%d bytes relayed within a minute", bytes).isLessThan(deadline);
      Thread.sleep(10);
    }
    long passed = relay.bytesToClients();
    assertThat(pull).as("the pull is mid-download when the registry dies").isNotDone();
    return passed;
  }

  /**
   * The large layer was fetched once from the start and then from where the cut left it, with a
   * {@code Range}, not again from the start: the relay carried about one layer's worth.
   *
   * @param cut bytes the relay had passed to lamina when the registry was killed
   */
  private static void assertResumedWithARange(ThrottlingRelay relay, String repository, OciImage.Layer large,
      long cut) {
    String route = "/v2/" + repository + "/blobs/" + large.digest();
    List<String> gets = relay.requestHeads().stream().filter(h -> h.startsWith("GET " + route + " ")).toList();
    Pattern range = Pattern.compile("(?im)^range:\\s*bytes=(\\d+)-\\s*$");
    List<Long> offsets = new ArrayList<>();
    for (String head : gets) {
      Matcher m = range.matcher(head);
      offsets.add(m.find() ? Long.parseLong(m.group(1)) : 0L);
    }
    assertThat(offsets).as("offsets of the GETs of %s", large.digest()).hasSizeGreaterThanOrEqualTo(2);
    assertThat(offsets.get(0)).isZero();
    // Where the body broke off: at least what had passed when the registry was killed (less what
    // the other responses took), more when the relay still held bytes the registry had sent.
    assertThat(offsets.subList(1, offsets.size())).as("resumed where the body broke off, not started over")
        .allSatisfy(o -> assertThat(o).isGreaterThan(cut - MIB).isLessThan(large.size()));
    assertThat(relay.bytesToClients()).as("bytes relayed for a layer of %d bytes", large.size())
        .isLessThan(large.size() + 4 * MIB);
  }

  /** What lamina unpacked for {@code ref}, seen through a view of its top chain ID, equals umoci's unpack. */
  private static void assertRootfsIsUmocis(String ref, ContainerdTestImages.Built img) throws Exception {
    List<String> chain = img.chainIds();
    String top = chain.get(chain.size() - 1);
    JsonNode info = JSON.readTree(cri.verboseInfo(ref).get("info"));
    assertThat(info.path("chainID").asText()).as("the image's chain ID").isEqualTo(top);
    for (String c : chain) {
      Info i = snapshots.stat(c);
      assertThat(i.getKind()).as("snapshot %s", c).isEqualTo(Kind.COMMITTED);
    }
    String key = "e2e-view-" + VIEWS.incrementAndGet();
    List<Mount> mounts = snapshots.view(key, top);
    try {
      if (mounts.size() == 1 && mounts.get(0).getType().equals("bind")) {
        // one directory holds the whole tree: read it where it is
        TreeAssert.assertSnapshotsEqual(ContainerdTestImages.snapshot(img.oracle()),
            ContainerdTestImages.snapshot(Path.of(mounts.get(0).getSource())));
      } else {
        Root.assumeRoot("mounting lamina's " + mounts.get(0).getType() + " view");
        Path target = Files.createDirectories(tmp.resolve("views").resolve(key));
        ContainerdHarness.mount(mounts, target);
        try {
          TreeAssert.assertSnapshotsEqual(ContainerdTestImages.snapshot(img.oracle()),
              ContainerdTestImages.snapshot(target));
        } finally {
          Commands.run("umount", target.toString()).check();
        }
      }
    } finally {
      snapshots.remove(key);
    }
  }

  /** The ingests (partial downloads) in lamina's content store. */
  private static List<Path> ingests() throws IOException {
    Path dir = lamina.root().resolve("content/ingest");
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    try (Stream<Path> s = Files.list(dir)) {
      return s.toList();
    }
  }

  private static Path contentBlob(String digest) {
    return lamina.root().resolve("content/blobs/sha256").resolve(digest.substring("sha256:".length()));
  }

  private static void assertNoSecretInLog() {
    String log = lamina.logText();
    for (String secret : SECRETS) {
      assertThat(log).as("lamina's log holds a secret").doesNotContain(secret);
    }
    assertThat(log).doesNotContain(Base64.getEncoder().encodeToString(
        (BASIC_USER + ":" + BASIC_PASSWORD).getBytes(StandardCharsets.UTF_8)));
  }

  private static Commands.Result laminaCli(String... args) throws IOException {
    return ContainerdLaminaProcess.cli(Map.of(), args);
  }

}
