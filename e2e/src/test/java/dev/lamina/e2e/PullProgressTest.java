package dev.lamina.e2e;

import static dev.lamina.fstest.FsTree.dir;
import static dev.lamina.fstest.FsTree.file;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lamina.api.v1.LayerProgress;
import dev.lamina.api.v1.PullProgress;
import dev.lamina.api.v1.PullRequest;
import dev.lamina.api.v1.PullsGrpc;
import dev.lamina.cri.runtime.v1.Api;
import dev.lamina.fstest.FsTree;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.extension.TestWatcher;
import org.junit.jupiter.api.io.TempDir;

/**
 * A pull's progress as {@code lamina pull} and the {@code lamina.v1.Pulls} API report it, from a
 * real {@code lamina serve} pulling from Debian's docker-registry through a {@link ThrottlingRelay},
 * so that a layer takes seconds and its progress can be seen on the way.
 */
class PullProgressTest {
  private static final String TAG = "1";
  private static final long MIB = 1024 * 1024;
  /** Random, so gzip cannot shrink it: about three seconds through the relay. */
  private static final int LARGE = (int) (24 * MIB);
  private static final long RELAY_RATE = 8 * MIB;

  @TempDir static Path tmp;
  private static ContainerdLaminaProcess lamina;
  private static DockerRegistry registry;

  @RegisterExtension
  static final TestWatcher LAMINA_LOG_ON_FAILURE = ContainerdLaminaProcess.logOnFailure(() -> lamina, 100);

  @BeforeAll
  static void start() throws Exception {
    Umoci.assumeInstalled();
    assumeTrue(DockerRegistry.installed(), DockerRegistry.MISSING);
    ContainerdLaminaProcess.assumeBuilt();
    registry = DockerRegistry.start(tmp.resolve("registry"));
    Path dir = Files.createDirectories(tmp.resolve("lamina"));
    lamina = ContainerdLaminaProcess.start(dir.resolve("root"), dir.resolve("snapshots.sock"), "auto",
        dir.resolve("lamina.log"));
    lamina.awaitCriSocket(Duration.ofSeconds(30));
  }

  @AfterAll
  static void stop() throws IOException {
    ContainerdHarness.closeAllThenUnmount(tmp, lamina, registry);
  }

  /** An image of two layers: a large random file, then a small one. */
  private static ContainerdTestImages.Built image(String name) throws Exception {
    Path work = tmp.resolve("images").resolve(name);
    Umoci umoci = Umoci.create(work.resolve("layout"), TAG, Files.createDirectories(work.resolve("scratch")));
    byte[] data = new byte[LARGE];
    new Random(name.hashCode()).nextBytes(data);
    umoci.layer(rootfs -> FsTree.apply(rootfs, dir("data", 0755), file("data/large.bin", data, 0644)));
    umoci.layer(rootfs -> FsTree.apply(rootfs, file("etc/name", name + "\n", 0644)));
    return new ContainerdTestImages.Built(umoci.layout(), TAG, OciImage.read(umoci.layout(), TAG), null);
  }

  private static String hex12(String digest) {
    return digest.substring("sha256:".length(), "sha256:".length() + 12);
  }

  /** What was drawn on the terminal: each line as drawn, in order (every draw erases the line first). */
  private static List<String> drawnLines(String stderr) {
    List<String> lines = new ArrayList<>();
    for (String part : stderr.split("\033\\[2K")) {
      int end = part.indexOf('\n');
      if (end >= 0) {
        lines.add(part.substring(0, end));
      }
    }
    return lines;
  }

  @Test
  void laminaPullOnATerminalShowsEachLayerDownloadingThenDoneAndSaysWhatItFetched() throws Exception {
    ContainerdTestImages.Built img = image("terminal");
    registry.push(img.layout(), TAG, "progress/terminal");
    OciImage.Layer large = img.image().layers().get(0);
    OciImage.Layer small = img.image().layers().get(1);
    try (ThrottlingRelay relay = ThrottlingRelay.start(registry.port(), RELAY_RATE)) {
      String ref = relay.host() + "/progress/terminal:" + TAG;
      Commands.Result first = laminaCli("pull", "--socket", lamina.criSocket().toString(), "--progress", "tty", ref);
      first.check();
      assertThat(first.stdout()).matches("Pulled \\Q" + ref + "\\E in [0-9.]+s: 2 layers fetched \\([0-9.]+ MiB\\),"
          + " 0 reused; image \\Q" + img.image().configDigest() + "\\E\n");
      List<String> drawn = drawnLines(first.stderr());
      assertThat(drawn).as("the large layer part-way, with its bytes of total and a rate")
          .anySatisfy(l -> assertThat(l).matches(
              "  " + hex12(large.digest()) + "  downloading  [0-9.]+ (KiB|MiB) / 24\\.0 MiB  [0-9.]+ (KiB|MiB)/s"));
      assertThat(drawn).as("the overall line").anySatisfy(l -> assertThat(l)
          .matches("Pulling \\Q" + ref + "\\E  [01]/2 layers  [0-9.]+ (B|KiB|MiB) / 24\\.[0-9] MiB  .*s"));
      List<String> lastDraw = drawn.subList(drawn.size() - 3, drawn.size());
      assertThat(lastDraw.get(0)).startsWith("  " + hex12(large.digest()) + "  done");
      assertThat(lastDraw.get(1)).startsWith("  " + hex12(small.digest()) + "  done");
      assertThat(lastDraw.get(2)).startsWith("Pulling " + ref + "  2/2 layers");

      Commands.Result again = laminaCli("pull", "--socket", lamina.criSocket().toString(), "--progress", "tty", ref);
      again.check();
      assertThat(again.stdout()).isEqualTo("Image is up to date for " + img.image().configDigest() + "\n");
      List<String> redrawn = drawnLines(again.stderr());
      assertThat(redrawn.subList(redrawn.size() - 3, redrawn.size() - 1))
          .allSatisfy(l -> assertThat(l).contains("  reused  "));
    }
  }

  @Test
  void withoutATerminalOnlyTheSummaryIsPrinted() throws Exception {
    ContainerdTestImages.Built img = image("quiet");
    registry.push(img.layout(), TAG, "progress/quiet");
    String ref = registry.host() + "/progress/quiet:" + TAG;
    Commands.Result r = laminaCli("pull", "--socket", lamina.criSocket().toString(), ref);
    r.check();
    assertThat(r.stderr()).isEmpty();
    assertThat(r.stdout()).startsWith("Pulled " + ref + " in ").endsWith("; image " + img.image().configDigest() + "\n");
  }

  /**
   * Two clients pull one reference at once: the second joins the first's pull, and both streams
   * carry every layer from the first message after resolution on, bytes that never go back, and
   * the same image ID at the end.
   */
  @Test
  void aSecondClientJoiningThePullSeesTheLayersAndTheSameEnd() throws Exception {
    ContainerdTestImages.Built img = image("joined");
    registry.push(img.layout(), TAG, "progress/joined");
    try (ThrottlingRelay relay = ThrottlingRelay.start(registry.port(), RELAY_RATE);
        UnixSocketChannel channel = UnixSocketChannel.open(lamina.criSocket())) {
      String ref = relay.host() + "/progress/joined:" + TAG;
      PullsGrpc.PullsBlockingStub stub = PullsGrpc.newBlockingStub(channel.channel())
          .withDeadlineAfter(2, TimeUnit.MINUTES);
      PullRequest req = PullRequest.newBuilder().setImage(Api.ImageSpec.newBuilder().setImage(ref)).build();
      CompletableFuture<List<PullProgress>> first = CompletableFuture.supplyAsync(() -> drain(stub.pull(req)));
      while (relay.bytesToClients() < MIB) {
        assertThat(first).as("the first pull ended before a MiB passed").isNotDone();
        Thread.sleep(20);
      }
      List<PullProgress> second = drain(stub.pull(req));
      List<PullProgress> firsts = first.get(2, TimeUnit.MINUTES);
      for (List<PullProgress> stream : List.of(firsts, second)) {
        PullProgress last = stream.get(stream.size() - 1);
        assertThat(last.getImageId()).isEqualTo(img.image().configDigest());
        assertThat(last.getAlreadyPresent()).isFalse();
        assertThat(last.getLayersList()).extracting(LayerProgress::getDigest)
            .containsExactly(img.image().layers().get(0).digest(), img.image().layers().get(1).digest());
        assertThat(last.getLayersList()).extracting(LayerProgress::getState)
            .containsOnly(LayerProgress.State.DONE);
        assertBytesNeverGoBack(stream);
        assertThat(stream.stream().filter(p -> !p.getManifestDigest().isEmpty()))
            .allSatisfy(p -> assertThat(p.getLayersCount()).isEqualTo(2));
      }
      assertThat(second.get(0).getManifestDigest()).as("a joiner hears the resolution at once")
          .isEqualTo(firsts.get(firsts.size() - 1).getManifestDigest());
      assertThat(firsts).as("the first stream showed the large layer part-way")
          .anySatisfy(p -> assertThat(p.getLayers(0).getState()).isEqualTo(LayerProgress.State.DOWNLOADING));
    }
  }

  private static List<PullProgress> drain(Iterator<PullProgress> it) {
    List<PullProgress> all = new ArrayList<>();
    it.forEachRemaining(all::add);
    return all;
  }

  private static void assertBytesNeverGoBack(List<PullProgress> stream) {
    long[] seen = new long[2];
    for (PullProgress p : stream) {
      for (int i = 0; i < p.getLayersCount(); i++) {
        assertThat(p.getLayers(i).getDownloaded()).as("layer %d's bytes in %s", i, stream).isGreaterThanOrEqualTo(seen[i]);
        seen[i] = p.getLayers(i).getDownloaded();
      }
    }
    assertThat(Arrays.stream(seen).sum()).isPositive();
  }

  private static Commands.Result laminaCli(String... args) throws IOException {
    return ContainerdLaminaProcess.cli(Map.of("COLUMNS", "200"), args);
  }

}
