package dev.lamina.images;

import static org.assertj.core.api.Assertions.assertThat;

import dev.lamina.compression.Compression;
import dev.lamina.content.Status;
import dev.lamina.digest.Digest;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.fstest.TreeSnapshot;
import dev.lamina.oci.Descriptor;
import dev.lamina.oci.MediaTypes;
import dev.lamina.oci.Platform;
import dev.lamina.remotes.auth.Credentials;
import dev.lamina.snapshots.Info;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** What every snapshotter must give the image manager: the same images, the same errors, the same collection. */
abstract class ImageManagerConformanceTest extends ImageManagerTestBase {

  /**
   * A base layer, then one without any directory entries (its parents are implicit, and must keep
   * the base's attributes: tmp 1777, var/lib 0700 owned by 1000, usr/share's xattr), with
   * whiteouts, an opaque dir and a changed file, then one with whiteouts of things nothing has
   * (phantom directories), of a hard link and of a file.
   */
  static List<Images.Layer> threeLayers() {
    Images.Layer base = Images.layer()
        .dir("etc", 0755).file("etc/passwd", "root:x:0:0")
        .dir("tmp", 01777)
        .dir("usr", 0755).dirWithXattr("usr/share", 0755, "user.lamina", "share")
        .dir("usr/share/doc", 0755).file("usr/share/doc/a.txt", "a").file("usr/share/doc/b.txt", "b")
        .dir("usr/bin", 0755).file("usr/bin/tool", "#!/bin/sh\n".getBytes(StandardCharsets.UTF_8), 0755)
        .hardlink("usr/bin/tool2", "usr/bin/tool").symlink("usr/bin/link", "tool")
        .dir("var", 0755).dir("var/lib", 0700, 1000, 1000).file("var/lib/x", "x")
        .dir("opt", 0750).dir("opt/keep", 0755).file("opt/keep/f", "f")
        .dir("usr/lib", 0755).randomFiles("usr/lib", 8, 32 * 1024, 1)
        .build();
    Images.Layer middle = Images.layer()
        .whiteout("usr/share/doc/a.txt")
        .file("tmp/new", "new")
        .opaque("opt").file("opt/keep2", "k2")
        .file("etc/passwd", "root:x:0:0:changed")
        .file("var/lib/y", "y")
        .build();
    Images.Layer top = Images.layer()
        .whiteout("ghost/nothing")
        .whiteout("deep/a/b/c")
        .whiteout("usr/bin/tool2")
        .dir("srv", 0711).file("srv/data", "data")
        .file("usr/share/doc/c.txt", "c")
        .whiteout("var/lib/x")
        .build();
    return List.of(base, middle, top);
  }

  @Test
  void pullUnpacksWhatApplyingTheLayersNaivelyGives() throws Exception {
    List<Images.Layer> layers = threeLayers();
    Images.Image img = Images.image(layers);
    Images.push(registry, "app", "v1", img);
    List<Digest> events = new CopyOnWriteArrayList<>();
    ImageRecord r = manager.pull(ref("app:v1"), Credentials.anonymous(), new PullListener() {
      @Override
      public void layerDone(Digest layer, boolean reused) {
        events.add(layer);
      }
    });

    assertThat(r.id()).isEqualTo(img.configDigest());
    assertThat(r.manifestDigest()).isEqualTo(img.manifestDigest());
    assertThat(r.repoTags()).containsExactly(ref("app:v1"));
    assertThat(r.repoDigests()).containsExactly(ref("app") + "@" + img.manifestDigest());
    assertThat(r.chainIds()).isEqualTo(ChainIds.of(layers.stream().map(Images.Layer::diffId).toList()));
    assertThat(r.config().rootfs().diffIds()).containsExactly(layers.get(0).diffId(), layers.get(1).diffId(),
        layers.get(2).diffId());
    assertThat(r.config().config().cmd()).containsExactly("/bin/sh");
    assertThat(r.size()).as("containerd's size: manifest, config, compressed layers").isEqualTo(img.packedSize());
    assertThat(r.pinned()).isFalse();
    assertThat(events).containsExactly(layers.get(0).digest(), layers.get(1).digest(), layers.get(2).digest());

    assertRootfs(r, layers);
    TreeSnapshot fs = rootfs(r);
    assertThat(fs.get("tmp").orElseThrow().permissions()).isEqualTo(01777);
    assertThat(fs.get("var/lib").orElseThrow().permissions()).isEqualTo(0700);
    assertThat(fs.get("ghost")).isEmpty();
    assertThat(fs.get("deep")).isEmpty();
    assertThat(fs.get("opt/keep")).isEmpty();
    assertThat(committed()).containsExactlyInAnyOrderElementsOf(r.chainIds().stream().map(Digest::toString).toList());
    assertThat(notCommitted()).isEmpty();
    assertThat(content.statuses()).isEmpty();
    assertUsageMatchesWalk();
  }

  @Test
  void chainIdsFollowTheOciSpec() {
    Digest a = Digest.sha256Of("a".getBytes(StandardCharsets.UTF_8));
    Digest b = Digest.sha256Of("b".getBytes(StandardCharsets.UTF_8));
    List<Digest> chain = ChainIds.of(List.of(a, b));
    assertThat(chain.get(0)).isEqualTo(a);
    assertThat(chain.get(1)).isEqualTo(Digest.sha256Of((a + " " + b).getBytes(StandardCharsets.UTF_8)));
  }

  @Test
  void secondPullDownloadsNothing() throws Exception {
    Images.Image img = Images.image(threeLayers());
    Images.push(registry, "app", "v1", img);
    ImageRecord first = pull("app:v1");
    registry.log.clear();

    ImageRecord second = pull("app:v1");

    assertThat(second).isEqualTo(first);
    assertThat(registry.blobGets()).isEmpty();
    assertThat(registry.manifestRequests()).as("only the tag is resolved").hasSize(1);

    registry.log.clear();
    ImageRecord byDigest = pull("app@" + img.manifestDigest());
    assertThat(registry.log).as("a digest already here needs no registry").isEmpty();
    assertThat(byDigest.id()).isEqualTo(first.id());
    assertThat(byDigest.repoDigests()).containsExactly(ref("app") + "@" + img.manifestDigest());
  }

  @Test
  void anImageSharingBaseLayersReusesThem() throws Exception {
    List<Images.Layer> a = threeLayers();
    Images.Layer other = Images.layer().dir("app", 0755).file("app/main", "other").build();
    List<Images.Layer> b = List.of(a.get(0), a.get(1), other);
    Images.Image imgA = Images.image(a);
    Images.Image imgB = Images.image(b, Platform.current(), "b");
    Images.push(registry, "a", "1", imgA);
    Images.push(registry, "b", "1", imgB);
    ImageRecord ra = pull("a:1");
    registry.log.clear();

    ImageRecord rb = pull("b:1");

    assertThat(registry.blobGets()).extracting(TestRegistry.Request::path).containsExactlyInAnyOrder(
        "/v2/b/blobs/" + imgB.configDigest(), "/v2/b/blobs/" + other.digest());
    assertThat(rb.chainIds().subList(0, 2)).isEqualTo(ra.chainIds().subList(0, 2));
    assertRootfs(rb, b);
    assertRootfs(ra, a);
    assertThat(manager.list()).extracting(ImageRecord::id).containsExactlyInAnyOrder(ra.id(), rb.id());
    assertUsageMatchesWalk();
  }

  @Test
  void concurrentPullsOfOneReferenceShareOneDownload() throws Exception {
    Images.Image img = Images.image(threeLayers());
    Images.push(registry, "app", "v1", img);
    registry.gate = new CountDownLatch(1);
    AtomicInteger resolvedEvents = new AtomicInteger();
    PullListener counting = new PullListener() {
      @Override
      public void resolved(String reference, Digest manifest, List<Descriptor> layers, int committed) {
        resolvedEvents.incrementAndGet();
      }
    };
    ExecutorService pool = Executors.newFixedThreadPool(3);
    try {
      Future<ImageRecord> first = pool.submit(() -> manager.pull(ref("app:v1"), Credentials.anonymous(), counting));
      waitFor(() -> !registry.blobGets().isEmpty()); // the first pull is stuck on its config
      Future<ImageRecord> second = pool.submit(() -> manager.pull(ref("app:v1"), Credentials.anonymous(), counting));
      Future<ImageRecord> third = pool.submit(() -> manager.pull(ref("app:v1"), null, null));
      Thread.sleep(200);
      registry.gate.countDown();
      ImageRecord r1 = first.get(30, TimeUnit.SECONDS);
      assertThat(second.get(30, TimeUnit.SECONDS)).isEqualTo(r1);
      assertThat(third.get(30, TimeUnit.SECONDS)).isEqualTo(r1);
    } finally {
      pool.shutdownNow();
    }
    assertThat(registry.blobGets(img.configDigest())).isEqualTo(1);
    for (Images.Layer l : img.layers()) {
      assertThat(registry.blobGets(l.digest())).as("GETs of " + l.digest()).isEqualTo(1);
    }
    assertThat(registry.manifestRequests()).hasSize(2); // one resolve, one fetch
    assertThat(resolvedEvents.get()).as("the joined listener hears the shared pull").isEqualTo(2);
  }

  @Test
  void concurrentPullsOfTwoReferencesShareLayers() throws Exception {
    Images.Image img = Images.image(threeLayers());
    Images.push(registry, "app", "v1", img);
    Images.push(registry, "app", "v2", img);
    registry.gate = new CountDownLatch(1);
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      Future<ImageRecord> one = pool.submit(() -> pull("app:v1"));
      Future<ImageRecord> two = pool.submit(() -> pull("app:v2"));
      waitFor(() -> registry.blobGets().size() >= 2);
      registry.gate.countDown();
      ImageRecord r1 = one.get(30, TimeUnit.SECONDS);
      ImageRecord r2 = two.get(30, TimeUnit.SECONDS);
      assertThat(r2.id()).isEqualTo(r1.id());
      assertThat(manager.find(r1.id().toString()).orElseThrow().repoTags())
          .containsExactlyInAnyOrder(ref("app:v1"), ref("app:v2"));
    } finally {
      pool.shutdownNow();
    }
    for (Images.Layer l : img.layers()) {
      assertThat(registry.blobGets(l.digest())).as("GETs of " + l.digest()).isEqualTo(1);
    }
    assertRootfs(manager.find(ref("app:v2")).orElseThrow(), img.layers());
    assertThat(notCommitted()).isEmpty();
    assertUsageMatchesWalk();
  }

  @Test
  void aCorruptedBlobIsDataLossAndLeavesNothingThatCouldPassForComplete() throws Exception {
    List<Images.Layer> layers = threeLayers();
    Images.Image img = Images.image(layers);
    Images.push(registry, "app", "v1", img);
    Images.Layer bad = layers.get(1);
    byte[] corrupted = bad.blob().clone();
    corrupted[corrupted.length / 2] ^= 0x55;
    registry.corrupt.put(bad.digest().toString(), corrupted);

    LaminaException e = failure(() -> pull("app:v1"));

    assertKind(e, ErrorKind.DATA_LOSS);
    assertThat(e.getMessage()).contains(bad.digest().toString()).contains(ref("app:v1"));
    List<Digest> chain = ChainIds.of(layers.stream().map(Images.Layer::diffId).toList());
    assertThat(committed()).doesNotContain(chain.get(1).toString(), chain.get(2).toString());
    assertThat(notCommitted()).as("no prepared snapshot is left").isEmpty();
    assertThat(blobs()).doesNotContain(bad.digest());
    assertThat(content.statuses()).extracting(Status::ref).noneMatch(r -> r.contains(bad.digest().toString()));
    assertThat(manager.list()).isEmpty();

    registry.corrupt.clear();
    ImageRecord r = pull("app:v1");
    assertRootfs(r, layers);
    assertUsageMatchesWalk();
  }

  @Test
  void aBlobWithAValidStreamButTheWrongDigestIsDataLoss() throws Exception {
    List<Images.Layer> layers = threeLayers();
    Images.Image img = Images.image(layers);
    Images.push(registry, "app", "v1", img);
    Images.Layer bad = layers.get(2);
    byte[] other = bad.blob().clone();
    other[4] ^= 0x01; // the gzip header's mtime: decompresses the same, hashes differently
    registry.corrupt.put(bad.digest().toString(), other);

    LaminaException e = failure(() -> pull("app:v1"));

    assertKind(e, ErrorKind.DATA_LOSS);
    assertThat(e.getMessage()).contains(bad.digest().toString()).contains(ref("app:v1"));
    assertThat(committed()).doesNotContain(ChainIds.of(layers.stream().map(Images.Layer::diffId).toList())
        .get(2).toString());
    assertThat(notCommitted()).isEmpty();
    assertThat(blobs()).doesNotContain(bad.digest());
    assertThat(content.statuses()).isEmpty();
  }

  @Test
  void aWrongDiffIdIsDataLoss() throws Exception {
    List<Images.Layer> layers = threeLayers();
    Images.Layer liar = new Images.Layer(layers.get(1).tar(), layers.get(1).blob(),
        Digest.sha256Of("something else".getBytes(StandardCharsets.UTF_8)), layers.get(1).digest(),
        layers.get(1).mediaType());
    Images.Image img = Images.image(List.of(layers.get(0), liar, layers.get(2)));
    Images.push(registry, "app", "v1", img);

    LaminaException e = failure(() -> pull("app:v1"));

    assertKind(e, ErrorKind.DATA_LOSS);
    assertThat(e.getMessage()).contains(liar.digest().toString()).contains("diff ID");
    assertThat(committed()).hasSizeLessThanOrEqualTo(1);
    assertThat(notCommitted()).isEmpty();
    assertThat(content.statuses()).isEmpty();
  }

  @Test
  void aHostileLayerIsRefusedAndLeavesNothing() throws Exception {
    Images.Layer evil = Images.layer().dir("a", 0755).file("../../escaped", "boo").build();
    Images.Image img = Images.image(List.of(evil));
    Images.push(registry, "evil", "1", img);

    LaminaException e = failure(() -> pull("evil:1"));

    assertThat(e.getMessage()).contains(evil.digest().toString()).contains(ref("evil:1"));
    assertThat(e.kind()).isNotEqualTo(ErrorKind.INTERNAL);
    assertThat(tmp.resolve("escaped")).doesNotExist();
    assertThat(root.resolve("escaped")).doesNotExist();
    assertThat(snapshots()).isEmpty();
    assertThat(content.statuses()).isEmpty();
  }

  @Test
  void aDroppedConnectionIsResumedWithARange() throws Exception {
    Images.Layer big = Images.layer().dir("data", 0755).randomFiles("data", 16, 64 * 1024, 7).build();
    Images.Image img = Images.image(List.of(big));
    Images.push(registry, "big", "1", img);
    registry.drops.put(big.digest().toString(), new TestRegistry.Drop(big.blob().length / 2, new AtomicInteger(1)));

    ImageRecord r = pull("big:1");

    assertThat(registry.rangeRequests()).isNotEmpty();
    assertThat(registry.rangeRequests().get(0).path()).endsWith(big.digest().toString());
    assertRootfs(r, List.of(big));
    assertThat(content.statuses()).isEmpty();
  }

  @Test
  void aConnectionThatKeepsDroppingFailsCleanlyAndTheRetryResumes() throws Exception {
    Images.Layer big = Images.layer().dir("data", 0755).randomFiles("data", 16, 64 * 1024, 8).build();
    Images.Image img = Images.image(List.of(big));
    Images.push(registry, "big", "1", img);
    int half = big.blob().length / 2;
    registry.drops.put(big.digest().toString(), new TestRegistry.Drop(half, new AtomicInteger(1000)));

    LaminaException e = failure(() -> pull("big:1"));

    assertThat(e.getMessage()).contains(big.digest().toString());
    assertThat(snapshots()).as("nothing that could pass for complete").isEmpty();
    assertThat(blobs()).doesNotContain(big.digest());
    List<Status> partial = content.statuses();
    if (e.kind() == ErrorKind.UNAVAILABLE) {
      // the bytes that arrived wait for the next pull
      assertThat(partial).hasSize(1);
      assertThat(partial.get(0).offset()).isEqualTo(half);
    }

    registry.drops.clear();
    registry.log.clear();
    ImageRecord r = pull("big:1");
    assertRootfs(r, List.of(big));
    if (e.kind() == ErrorKind.UNAVAILABLE) {
      assertThat(registry.rangeRequests()).extracting(TestRegistry.Request::range)
          .containsExactly("bytes=" + half + "-");
    }
    assertThat(content.statuses()).isEmpty();
    assertThat(blobs()).contains(big.digest());
  }

  @Test
  void removeCollectsWhatNoImageNeedsAndKeepsWhatOthersShare() throws Exception {
    List<Images.Layer> a = threeLayers();
    Images.Layer other = Images.layer().dir("app", 0755).file("app/main", "other").build();
    List<Images.Layer> b = List.of(a.get(0), a.get(1), other);
    Images.Image imgA = Images.image(a);
    Images.Image imgB = Images.image(b, Platform.current(), "b");
    Images.push(registry, "a", "1", imgA);
    Images.push(registry, "b", "1", imgB);
    ImageRecord ra = pull("a:1");
    ImageRecord rb = pull("b:1");
    assertUsageMatchesWalk();

    manager.remove(ra.id().toString());

    assertThat(manager.find(ref("a:1"))).isEmpty();
    assertThat(manager.find(ra.id().toString())).isEmpty();
    assertThat(blobs()).doesNotContain(imgA.configDigest(), imgA.manifestDigest(), a.get(2).digest())
        .contains(a.get(0).digest(), a.get(1).digest(), imgB.configDigest(), imgB.manifestDigest(), other.digest());
    assertThat(committed()).containsExactlyInAnyOrderElementsOf(rb.chainIds().stream().map(Digest::toString).toList());
    assertRootfs(manager.find(ref("b:1")).orElseThrow(), b);
    assertUsageMatchesWalk();

    manager.remove(ra.id().toString()); // again: nothing to do, no error
    manager.remove(ref("nothing:here"));

    manager.remove(ref("b") + "@" + imgB.manifestDigest());
    assertThat(manager.list()).isEmpty();
    assertThat(committed()).isEmpty();
    assertThat(blobs()).isEmpty();
    assertThat(snapshots()).isEmpty();
    assertUsageMatchesWalk();
    assertThat(manager.usage().usedBytes()).isZero();
    assertThat(manager.usage().inodesUsed()).isZero();
  }

  @Test
  void removeByTagRemovesEveryNameOfTheImage() throws Exception {
    Images.Image img = Images.image(threeLayers());
    Images.push(registry, "app", "v1", img);
    Images.push(registry, "app", "v2", img);
    pull("app:v1");
    ImageRecord r = pull("app:v2");
    assertThat(r.repoTags()).containsExactly(ref("app:v1"), ref("app:v2"));
    assertThat(r.repoDigests()).containsExactly(ref("app") + "@" + img.manifestDigest());

    manager.remove(ref("app:v2"));

    assertThat(manager.list()).isEmpty();
    assertThat(blobs()).isEmpty();
    assertThat(committed()).isEmpty();
  }

  @Test
  void collectionLeavesContentAndSnapshotsItDidNotMake() throws Exception {
    Images.Image img = Images.image(threeLayers());
    Images.push(registry, "app", "v1", img);
    ImageRecord r = pull("app:v1");
    // someone else's blob and snapshot (the Diff and Snapshots services write here too)
    byte[] theirs = "not an image's".getBytes(StandardCharsets.UTF_8);
    Digest d = Digest.sha256Of(theirs);
    try (var w = content.writer("theirs", theirs.length, d)) {
      w.write(theirs, 0, theirs.length);
      w.commit(theirs.length, d, null);
    }
    snapshotter.prepare("their-active", r.chainIds().get(0).toString(), null);

    manager.remove(r.id().toString());

    assertThat(blobs()).containsExactly(d);
    assertThat(committed()).as("the active snapshot keeps its parent").containsExactly(r.chainIds().get(0).toString());
    snapshotter.remove("their-active");
    manager.collectGarbage();
    assertThat(committed()).isEmpty();
    assertThat(blobs()).containsExactly(d);
  }

  @Test
  void findAndListByIdTagDigestAndShortId() throws Exception {
    Images.Image img = Images.image(threeLayers());
    Images.push(registry, "app", "v1", img);
    reopen(ImageManagerOptions.defaults(root).withPinnedReferences(Set.of(ref("app:v1"))));
    ImageRecord r = pull("app:v1");
    assertThat(r.pinned()).isTrue();

    String hex = img.configDigest().hex();
    for (String key : List.of(img.configDigest().toString(), hex, hex.substring(0, 12), "sha256:" + hex.substring(0, 16),
        ref("app:v1"), ref("app") + "@" + img.manifestDigest())) {
      assertThat(manager.find(key)).as(key).contains(r);
    }
    for (String key : List.of(ref("app:v2"), "sha256:" + "0".repeat(64), hex.substring(0, 6), "", "!!", "app")) {
      assertThat(manager.find(key)).as(key).isEmpty();
    }
    assertThat(manager.list()).containsExactly(r);

    reopen(ImageManagerOptions.defaults(root));
    assertThat(manager.find(ref("app:v1")).orElseThrow().pinned()).isFalse();
    assertThat(manager.find(ref("app:v1")).orElseThrow().id()).isEqualTo(r.id());
  }

  @Test
  void anIndexIsNarrowedToThisPlatform() throws Exception {
    List<Images.Layer> mine = threeLayers();
    Images.Layer foreignLayer = Images.layer().dir("s390x", 0755).file("s390x/only", "x").build();
    Platform here = Platform.current();
    Platform foreign = Platform.of("linux", here.architecture().equals("s390x") ? "ppc64le" : "s390x");
    Images.Image imgHere = Images.image(mine, here, "here");
    Images.Image imgThere = Images.image(List.of(foreignLayer), foreign, "there");
    Images.push(registry, "multi", null, imgHere);
    Images.push(registry, "multi", null, imgThere);
    byte[] index = Images.index(List.of(imgThere, imgHere), List.of(foreign, here));
    registry.putManifest("multi", "latest", MediaTypes.OCI_INDEX, index);
    Digest indexDigest = Digest.sha256Of(index);

    ImageRecord r = pull("multi:latest");

    assertThat(r.id()).isEqualTo(imgHere.configDigest());
    assertThat(r.manifestDigest()).isEqualTo(imgHere.manifestDigest());
    assertThat(r.repoDigests()).containsExactly(ref("multi") + "@" + indexDigest);
    assertThat(r.size()).isEqualTo(imgHere.packedSize() + index.length);
    assertThat(registry.blobGets(foreignLayer.digest())).isZero();
    assertThat(registry.blobGets(imgThere.configDigest())).isZero();
    assertThat(blobs()).contains(indexDigest, imgHere.manifestDigest()).doesNotContain(imgThere.manifestDigest());
    assertRootfs(r, mine);

    manager.remove(ref("multi:latest"));
    assertThat(blobs()).isEmpty();
  }

  @Test
  void droppingCompressedLayersKeepsOnlyManifestsConfigsAndSnapshots() throws Exception {
    reopen(ImageManagerOptions.defaults(root).withDropCompressedLayers(true));
    List<Images.Layer> layers = threeLayers();
    Images.Image img = Images.image(layers);
    Images.push(registry, "app", "v1", img);

    ImageRecord r = pull("app:v1");

    assertThat(blobs()).containsExactlyInAnyOrder(img.manifestDigest(), img.configDigest());
    assertThat(content.statuses()).isEmpty();
    assertRootfs(r, layers);
    assertThat(r.size()).isEqualTo(img.packedSize());
    assertUsageMatchesWalk();

    // a corrupt blob is still caught while it streams
    Images.Layer extra = Images.layer().dir("x", 0755).file("x/y", "z").build();
    Images.Image img2 = Images.image(List.of(layers.get(0), extra), Platform.current(), "2");
    Images.push(registry, "app", "v2", img2);
    byte[] corrupted = extra.blob().clone();
    corrupted[4] ^= 1;
    registry.corrupt.put(extra.digest().toString(), corrupted);
    LaminaException e = failure(() -> pull("app:v2"));
    assertKind(e, ErrorKind.DATA_LOSS);
    assertThat(e.getMessage()).contains(extra.digest().toString());
    assertThat(notCommitted()).isEmpty();
  }

  @Test
  void layersInAnyCompressionAndUncompressed() throws Exception {
    Images.Layer gz = Images.layer().dir("g", 0755).file("g/f", "gzip").build(Compression.GZIP);
    Images.Layer zst = Images.layer().dir("z", 0755).file("z/f", "zstd").whiteout("g/f").build(Compression.ZSTD);
    Images.Layer plain = Images.layer().dir("p", 0755).file("p/f", "plain").build(Compression.NONE);
    List<Images.Layer> layers = List.of(gz, zst, plain);
    Images.Image img = Images.image(layers);
    Images.push(registry, "mixed", "1", img);

    assertRootfs(pull("mixed:1"), layers);
  }

  @Test
  void usageCountersSurviveARestart() throws Exception {
    Images.push(registry, "app", "v1", Images.image(threeLayers()));
    pull("app:v1");
    long[] before = {manager.usage().usedBytes(), manager.usage().inodesUsed()};

    reopen(ImageManagerOptions.defaults(root));

    assertThat(new long[] {manager.usage().usedBytes(), manager.usage().inodesUsed()}).containsExactly(before);
    assertUsageMatchesWalk();
  }

  @Test
  void manyLayersCommitInChainOrder() throws Exception {
    List<Images.Layer> layers = new ArrayList<>();
    for (int i = 0; i < 12; i++) {
      Images.LayerBuilder l = Images.layer().dir("d" + i, 0755).randomFiles("d" + i, 3, 20_000 * (12 - i), i);
      if (i > 0) {
        l.whiteout("d" + (i - 1) + "/f0").file("shared/file", "layer " + i);
      }
      layers.add(l.build());
    }
    Images.Image img = Images.image(layers);
    Images.push(registry, "tall", "1", img);

    ImageRecord r = pull("tall:1");

    assertRootfs(r, layers);
    List<Info> infos = snapshots();
    for (int i = 1; i < r.chainIds().size(); i++) {
      String name = r.chainIds().get(i).toString();
      String parent = r.chainIds().get(i - 1).toString();
      assertThat(infos).filteredOn(s -> s.name().equals(name)).extracting(Info::parent).containsExactly(parent);
    }
    assertUsageMatchesWalk();
  }

  @Test
  void badReferencesAndMissingImagesFailWithTheirKind() throws Exception {
    assertKind(failure(() -> manager.pull("Not A Reference", Credentials.anonymous(), PullListener.NONE)),
        ErrorKind.INVALID_ARGUMENT);
    LaminaException missing = failure(() -> pull("nothing:here"));
    assertKind(missing, ErrorKind.NOT_FOUND);
    assertThat(snapshots()).isEmpty();
    assertThat(blobs()).isEmpty();
    assertThat(manager.list()).isEmpty();
  }

  @Test
  void reopeningRemovesWhatAnInterruptedPullLeftActiveAndKeepsWhatItCommitted() throws Exception {
    List<Images.Layer> layers = threeLayers();
    Images.Image img = Images.image(layers);
    Images.push(registry, "app", "v1", img);
    ImageRecord r = pull("app:v1");
    manager.remove(r.id().toString());
    // as a pull killed half way leaves things: a committed base layer, an extraction in progress
    Images.push(registry, "app", "v1", img);
    LaminaException e = failure(() -> {
      registry.corrupt.put(layers.get(1).digest().toString(), flip(layers.get(1).blob(), 200));
      pull("app:v1");
    });
    assertKind(e, ErrorKind.DATA_LOSS);
    snapshotter.prepare("extract-deadbeef-" + r.chainIds().get(2), "",
        java.util.Map.of("lamina.dev/owner", "images", "lamina.dev/extract", r.chainIds().get(2).toString()));

    boolean baseCommitted = committed().contains(r.chainIds().get(0).toString());

    reopen(ImageManagerOptions.defaults(root));

    assertThat(notCommitted()).isEmpty();
    assertThat(committed().contains(r.chainIds().get(0).toString())).isEqualTo(baseCommitted);
    registry.corrupt.clear();
    registry.log.clear();
    assertRootfs(pull("app:v1"), layers);
    assertThat(registry.blobGets(layers.get(0).digest())).as("a committed base layer is reused")
        .isEqualTo(baseCommitted ? 0 : 1);
    assertUsageMatchesWalk();
  }

  static void waitFor(java.util.function.BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("condition not met in 10 s");
      }
      Thread.sleep(10);
    }
  }

  static byte[] flip(byte[] b, int at) {
    byte[] c = Arrays.copyOf(b, b.length);
    c[at] ^= 1;
    return c;
  }
}
