package dev.lamina.services;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.lamina.archive.ApplyOptions;
import dev.lamina.containerd.diff.v1.ApplyRequest;
import dev.lamina.containerd.diff.v1.DiffGrpc;
import dev.lamina.containerd.diff.v1.DiffRequest;
import dev.lamina.containerd.snapshots.v1.CommitSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.SnapshotsGrpc;
import dev.lamina.containerd.snapshots.v1.ViewSnapshotRequest;
import dev.lamina.containerd.types.Descriptor;
import dev.lamina.containerd.types.Mount;
import dev.lamina.content.Labels;
import dev.lamina.content.LocalContentStore;
import dev.lamina.diff.walking.TempMounter;
import dev.lamina.diff.walking.WalkingDiffer;
import dev.lamina.digest.Digest;
import dev.lamina.fstest.TreeAssert;
import dev.lamina.mount.MountInfo;
import dev.lamina.mount.TempMounts;
import dev.lamina.oci.MediaTypes;
import dev.lamina.posix.Posix;
import dev.lamina.processor.StreamProcessors;
import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.copying.CopyingSnapshotter;
import dev.lamina.snapshots.overlay.OverlaySnapshotter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What containerd's unpacker does, through the Snapshots and Diff APIs over the real
 * snapshotters: prepare, apply, commit, layer by layer; then a view must show the tree the layers
 * describe, and a Diff between two committed layers must reproduce the upper one.
 */
class UnpackThroughTheApisTest {
  @TempDir Path tmp;
  Snapshotter snapshotter;
  LocalContentStore store;
  InProcess grpc;
  SnapshotsGrpc.SnapshotsBlockingStub snapshots;
  DiffGrpc.DiffBlockingStub diff;

  void start(String kind) throws IOException {
    assumeTrue(Posix.get().isRoot(), "mounting snapshots needs root");
    Path root = tmp.resolve("state");
    if (kind.equals("overlay")) {
      assumeTrue(OverlaySnapshotter.supported(tmp.resolve("probe")), "overlayfs with upper dirs");
      snapshotter = OverlaySnapshotter.open(root);
    } else {
      snapshotter = CopyingSnapshotter.open(root);
    }
    store = LocalContentStore.open(root.resolve("content"));
    WalkingDiffer walking = new WalkingDiffer(store, StreamProcessors.builtIn(),
        TempMounter.under(root.resolve("tmpmounts")), ApplyOptions.defaults(), root.resolve("tmp"));
    grpc = new InProcess(new SnapshotsService(snapshotter, null), new DiffService(new LocalDiffService(List.of(walking))));
    snapshots = SnapshotsGrpc.newBlockingStub(grpc.channel);
    diff = DiffGrpc.newBlockingStub(grpc.channel);
  }

  @AfterEach
  void stop() throws Exception {
    if (grpc != null) {
      grpc.close();
      store.close();
      snapshotter.close();
    }
  }

  static byte[] layer1() throws IOException {
    return new LayerBuilder()
        .dir("etc", 0755)
        .file("etc/hostname", "one\n", 0644)
        .dir("a", 0755)
        .file("a/keep", "keep", 0644)
        .file("a/gone", "gone", 0644)
        .dir("d", 0700)
        .file("d/x", "x", 0600)
        .symlink("link", "etc/hostname")
        .tar();
  }

  static byte[] layer2() throws IOException {
    return new LayerBuilder()
        .file("etc/hostname", "two\n", 0644)
        .whiteout("a/gone")
        .dir("d", 0700)
        .opaque("d")
        .file("d/y", "y", 0600)
        .file("new/deep/file", "implicit parents", 0644)
        .tar();
  }

  Descriptor put(byte[] tar) throws IOException {
    byte[] blob = LayerBuilder.gzip(tar);
    Digest d = LayerBuilder.put(store, blob, Map.of(Labels.UNCOMPRESSED, Digest.sha256Of(tar).toString()));
    return Descriptor.newBuilder().setMediaType(MediaTypes.OCI_LAYER_GZIP).setDigest(d.toString())
        .setSize(blob.length).build();
  }

  /** prepare, apply, commit: one layer of an unpack. */
  Descriptor unpack(String name, String parent, Descriptor layer) {
    List<Mount> mounts = snapshots.prepare(PrepareSnapshotRequest.newBuilder().setKey("extract-" + name)
        .setParent(parent).build()).getMountsList();
    Descriptor applied = diff.apply(ApplyRequest.newBuilder().setDiff(layer).addAllMounts(mounts).build()).getApplied();
    snapshots.commit(CommitSnapshotRequest.newBuilder().setName(name).setKey("extract-" + name).build());
    return applied;
  }

  List<Mount> view(String key, String parent) {
    return snapshots.view(ViewSnapshotRequest.newBuilder().setKey(key).setParent(parent).build()).getMountsList();
  }

  /** The layers applied naively onto a plain directory: what every view must show. */
  Path expected(Descriptor... layers) throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("expected-" + layers.length));
    Mount bind = Mount.newBuilder().setType("bind").setSource(dir.toString()).addOptions("rw").addOptions("rbind").build();
    for (Descriptor l : layers) {
      diff.apply(ApplyRequest.newBuilder().setDiff(l).addMounts(bind).build());
    }
    return dir;
  }

  void assertViewShows(List<Mount> mounts, Path expected) throws IOException {
    TempMounts.withTempMount(Files.createDirectories(tmp.resolve("check")), Protos.mounts(mounts), root -> {
      TreeAssert.assertTreesEqual(expected, root);
      return null;
    });
  }

  @ParameterizedTest
  @ValueSource(strings = {"overlay", "copying"})
  void layersUnpackIntoSnapshotsAndDiffBack(String kind) throws IOException {
    start(kind);
    byte[] tar1 = layer1();
    byte[] tar2 = layer2();
    Descriptor l1 = put(tar1);
    Descriptor l2 = put(tar2);

    Descriptor a1 = unpack("l1", "", l1);
    Descriptor a2 = unpack("l2", "l1", l2);
    assertThat(a1.getDigest()).isEqualTo(Digest.sha256Of(tar1).toString());
    assertThat(a2.getDigest()).isEqualTo(Digest.sha256Of(tar2).toString());

    Path both = expected(l1, l2);
    assertViewShows(view("v2", "l2"), both);
    assertViewShows(view("v1", "l1"), expected(l1));

    // Diff the two committed layers (as views) and unpack the result onto l1 again.
    Descriptor d = diff.diff(DiffRequest.newBuilder().addAllLeft(view("v1b", "l1")).addAllRight(view("v2b", "l2"))
        .setRef("rediff").build()).getDiff();
    assertThat(store.info(Digest.parse(d.getDigest())).labels()).containsKey(Labels.UNCOMPRESSED);
    unpack("l2-again", "l1", d);
    assertViewShows(view("v3", "l2-again"), both);
    assertThat(MountInfo.mountsAtOrUnder(tmp)).isEmpty();
  }
}
