package dev.lamina.services;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.FieldMask;
import dev.lamina.containerd.snapshots.v1.CleanupRequest;
import dev.lamina.containerd.snapshots.v1.CommitSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.Info;
import dev.lamina.containerd.snapshots.v1.Kind;
import dev.lamina.containerd.snapshots.v1.ListSnapshotsRequest;
import dev.lamina.containerd.snapshots.v1.ListSnapshotsResponse;
import dev.lamina.containerd.snapshots.v1.MountsRequest;
import dev.lamina.containerd.snapshots.v1.PrepareSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.RemoveSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.SnapshotsGrpc;
import dev.lamina.containerd.snapshots.v1.StatSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.UpdateSnapshotRequest;
import dev.lamina.containerd.snapshots.v1.UsageRequest;
import dev.lamina.containerd.snapshots.v1.ViewSnapshotRequest;
import dev.lamina.containerd.types.Mount;
import dev.lamina.snapshots.Snapshotter;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Snapshots API over a snapshotter, through an in-process gRPC server: every RPC, and the
 * status codes of bad requests. Runs on the in-memory test snapshotter; a subclass can run it on
 * a real one by overriding {@link #create}.
 */
class SnapshotsServiceTest {
  @TempDir Path root;
  Snapshotter snapshotter;
  InProcess grpc;
  SnapshotsGrpc.SnapshotsBlockingStub client;

  Snapshotter create(Path root) throws IOException {
    return new InMemorySnapshotter(root);
  }

  @BeforeEach
  void start() throws IOException {
    snapshotter = create(root);
    // a guard like the image manager's: what carries the label stays
    grpc = new InProcess(new SnapshotsService(snapshotter, "lamina",
        info -> Optional.ofNullable(info.labels().get("kept-by")).map(by -> "kept by " + by)));
    client = SnapshotsGrpc.newBlockingStub(grpc.channel);
  }

  @AfterEach
  void stop() throws Exception {
    grpc.close();
    snapshotter.close();
  }

  static void assertCode(ThrowingCallable call, Status.Code code) {
    assertThatThrownBy(call).isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
      assertThat(e.getStatus().getCode()).as(e.getStatus().toString()).isEqualTo(code);
      assertThat(e.getStatus().getDescription()).isNotBlank();
    });
  }

  List<Mount> prepare(String key, String parent) {
    return client.prepare(PrepareSnapshotRequest.newBuilder().setSnapshotter("lamina").setKey(key).setParent(parent)
        .putLabels("k", key).build()).getMountsList();
  }

  void commit(String name, String key) {
    client.commit(CommitSnapshotRequest.newBuilder().setName(name).setKey(key).build());
  }

  @Test
  void prepareCommitViewAndStat() throws IOException {
    List<Mount> mounts = prepare("active-1", "");
    assertThat(mounts).hasSize(1);
    assertThat(mounts.get(0).getType()).isNotEmpty();
    Files.writeString(Path.of(mounts.get(0).getSource()).resolve("hello"), "world");

    Info active = client.stat(StatSnapshotRequest.newBuilder().setKey("active-1").build()).getInfo();
    assertThat(active.getKind()).isEqualTo(Kind.ACTIVE);
    assertThat(active.getLabelsMap()).containsEntry("k", "active-1");
    assertThat(active.hasCreatedAt()).isTrue();
    assertThat(client.mounts(MountsRequest.newBuilder().setKey("active-1").build()).getMountsList())
        .isEqualTo(mounts);
    assertThat(client.usage(UsageRequest.newBuilder().setKey("active-1").build()).getInodes()).isPositive();

    client.commit(CommitSnapshotRequest.newBuilder().setName("layer-1").setKey("active-1").putLabels("c", "1").build());
    Info committed = client.stat(StatSnapshotRequest.newBuilder().setKey("layer-1").build()).getInfo();
    assertThat(committed.getKind()).isEqualTo(Kind.COMMITTED);
    assertThat(committed.getLabelsMap()).containsEntry("c", "1");
    assertCode(() -> client.stat(StatSnapshotRequest.newBuilder().setKey("active-1").build()), Status.Code.NOT_FOUND);

    List<Mount> view = client.view(ViewSnapshotRequest.newBuilder().setKey("view-1").setParent("layer-1").build())
        .getMountsList();
    assertThat(view).isNotEmpty();
    Info v = client.stat(StatSnapshotRequest.newBuilder().setKey("view-1").build()).getInfo();
    assertThat(v.getKind()).isEqualTo(Kind.VIEW);
    assertThat(v.getParent()).isEqualTo("layer-1");

    client.remove(RemoveSnapshotRequest.newBuilder().setKey("view-1").build());
    client.remove(RemoveSnapshotRequest.newBuilder().setKey("layer-1").build());
    client.cleanup(CleanupRequest.newBuilder().build());
    assertThat(list()).isEmpty();
  }

  @Test
  void commitWithParentRebases() {
    prepare("base-active", "");
    commit("base", "base-active");
    prepare("top-active", ""); // unpacked in parallel, without its parent
    client.commit(CommitSnapshotRequest.newBuilder().setName("top").setKey("top-active").setParent("base").build());
    assertThat(client.stat(StatSnapshotRequest.newBuilder().setKey("top").build()).getInfo().getParent())
        .isEqualTo("base");
  }

  @Test
  void updateLabelsWithFieldMask() {
    client.prepare(PrepareSnapshotRequest.newBuilder().setKey("u").putLabels("a", "1").putLabels("b", "2").build());
    Info in = Info.newBuilder().setName("u").putLabels("a", "one").putLabels("c", "3").build();
    Info out = client.update(UpdateSnapshotRequest.newBuilder().setInfo(in)
        .setUpdateMask(FieldMask.newBuilder().addPaths("labels.a").addPaths("labels.b")).build()).getInfo();
    assertThat(out.getLabelsMap()).containsExactly(Map.entry("a", "one"));
    out = client.update(UpdateSnapshotRequest.newBuilder().setInfo(in).build()).getInfo();
    assertThat(out.getLabelsMap()).containsOnly(Map.entry("a", "one"), Map.entry("c", "3"));
    assertCode(() -> client.update(UpdateSnapshotRequest.newBuilder().setInfo(in)
        .setUpdateMask(FieldMask.newBuilder().addPaths("parent")).build()), Status.Code.INVALID_ARGUMENT);
    assertCode(() -> client.update(UpdateSnapshotRequest.newBuilder().build()), Status.Code.INVALID_ARGUMENT);
    assertCode(() -> client.update(UpdateSnapshotRequest.newBuilder()
        .setInfo(Info.newBuilder().setName("missing")).build()), Status.Code.NOT_FOUND);
  }

  @Test
  void listStreamsInBatchesAndFilters() {
    int n = 2 * SnapshotsService.LIST_BATCH + 5;
    for (int i = 0; i < n; i++) {
      client.prepare(PrepareSnapshotRequest.newBuilder().setKey("s" + i).putLabels("even", Boolean.toString(i % 2 == 0))
          .build());
    }
    Iterator<ListSnapshotsResponse> it = client.list(ListSnapshotsRequest.newBuilder().build());
    List<Integer> sizes = new ArrayList<>();
    it.forEachRemaining(r -> sizes.add(r.getInfoCount()));
    assertThat(sizes).containsExactly(SnapshotsService.LIST_BATCH, SnapshotsService.LIST_BATCH, 5);

    List<Info> even = list("labels.\"even\"==true");
    assertThat(even).hasSize((n + 1) / 2).allSatisfy(i -> assertThat(i.getLabelsMap()).containsEntry("even", "true"));
    assertThat(list("name==s7")).extracting(Info::getName).containsExactly("s7");
  }

  List<Info> list(String... filters) {
    List<Info> all = new ArrayList<>();
    client.list(ListSnapshotsRequest.newBuilder().addAllFilters(List.of(filters)).build())
        .forEachRemaining(r -> all.addAll(r.getInfoList()));
    return all;
  }

  @Test
  void unknownKeysAreNotFound() {
    assertCode(() -> client.stat(StatSnapshotRequest.newBuilder().setKey("nope").build()), Status.Code.NOT_FOUND);
    assertCode(() -> client.mounts(MountsRequest.newBuilder().setKey("nope").build()), Status.Code.NOT_FOUND);
    assertCode(() -> client.usage(UsageRequest.newBuilder().setKey("nope").build()), Status.Code.NOT_FOUND);
    assertCode(() -> client.remove(RemoveSnapshotRequest.newBuilder().setKey("nope").build()), Status.Code.NOT_FOUND);
    assertCode(() -> commit("name", "nope"), Status.Code.NOT_FOUND);
    assertCode(() -> prepare("child", "no-such-parent"), Status.Code.NOT_FOUND);
  }

  @Test
  void duplicateKeyIsAlreadyExists() {
    prepare("dup", "");
    assertCode(() -> prepare("dup", ""), Status.Code.ALREADY_EXISTS);
    prepare("other", "");
    commit("committed", "other");
    prepare("again", "");
    assertCode(() -> commit("committed", "again"), Status.Code.ALREADY_EXISTS);
  }

  @Test
  void removeWithChildrenIsFailedPrecondition() {
    prepare("p-active", "");
    commit("p", "p-active");
    prepare("child", "p");
    assertCode(() -> client.remove(RemoveSnapshotRequest.newBuilder().setKey("p").build()),
        Status.Code.FAILED_PRECONDITION);
    client.remove(RemoveSnapshotRequest.newBuilder().setKey("child").build());
    client.remove(RemoveSnapshotRequest.newBuilder().setKey("p").build());
  }

  @Test
  void wrongKindsAreFailedPrecondition() {
    prepare("a-active", "");
    commit("a", "a-active");
    client.view(ViewSnapshotRequest.newBuilder().setKey("a-view").setParent("a").build());
    assertCode(() -> commit("from-view", "a-view"), Status.Code.FAILED_PRECONDITION);
    prepare("b-active", "");
    // containerd answers INVALID_ARGUMENT for a parent that is not committed; the contract says
    // FAILED_PRECONDITION: either is a refusal of the request as made.
    assertThatThrownBy(() -> prepare("on-active", "b-active")).isInstanceOfSatisfying(StatusRuntimeException.class,
        e -> assertThat(e.getStatus().getCode()).isIn(Status.Code.FAILED_PRECONDITION, Status.Code.INVALID_ARGUMENT));
  }

  @Test
  void emptyKeyIsInvalidArgument() {
    assertCode(() -> prepare("", ""), Status.Code.INVALID_ARGUMENT);
  }

  @Test
  void anotherSnapshotterNameIsNotFound() {
    assertCode(() -> client.stat(StatSnapshotRequest.newBuilder().setSnapshotter("overlayfs").setKey("x").build()),
        Status.Code.NOT_FOUND);
    // empty means "whatever this socket serves"
    assertCode(() -> client.stat(StatSnapshotRequest.newBuilder().setKey("x").build()), Status.Code.NOT_FOUND);
    prepare("x", "");
    assertThat(client.stat(StatSnapshotRequest.newBuilder().setKey("x").build()).getInfo().getName()).isEqualTo("x");
  }

  /**
   * containerd's remote-snapshotter handshake: a Prepare naming a committed target on the same
   * parent answers ALREADY_EXISTS and creates nothing; containerd then finds the target by a List
   * on its label and parent.
   */
  @Test
  void prepareNamingACommittedTargetAnswersAlreadyExists() {
    prepare("k1", "");
    client.commit(CommitSnapshotRequest.newBuilder().setName("sha256:c1").setKey("k1")
        .putLabels(dev.lamina.snapshots.Labels.TARGET, "sha256:c1").build());
    prepare("k2", "sha256:c1");
    client.commit(CommitSnapshotRequest.newBuilder().setName("sha256:c2").setKey("k2")
        .putLabels(dev.lamina.snapshots.Labels.TARGET, "sha256:c2").build());

    assertCode(() -> client.prepare(PrepareSnapshotRequest.newBuilder().setKey("default/7/extract-1 sha256:c2")
        .setParent("sha256:c1").putLabels(dev.lamina.snapshots.Labels.TARGET, "sha256:c2").build()),
        Status.Code.ALREADY_EXISTS);
    assertCode(() -> client.stat(StatSnapshotRequest.newBuilder().setKey("default/7/extract-1 sha256:c2").build()),
        Status.Code.NOT_FOUND);
    assertThat(list("labels.\"containerd.io/snapshot.ref\"==sha256:c2,parent==\"sha256:c1\""))
        .extracting(Info::getName).containsExactly("sha256:c2");
    assertThat(list("labels.\"containerd.io/snapshot.ref\"==sha256:c2,parent==\"\"")).isEmpty();

    // on another parent, or a target that is not committed, it is an ordinary Prepare
    client.prepare(PrepareSnapshotRequest.newBuilder().setKey("other-parent").setParent("")
        .putLabels(dev.lamina.snapshots.Labels.TARGET, "sha256:c2").build());
    client.prepare(PrepareSnapshotRequest.newBuilder().setKey("active-target").setParent("")
        .putLabels(dev.lamina.snapshots.Labels.TARGET, "other-parent").build());
    assertThat(list("kind==active")).extracting(Info::getName).containsExactlyInAnyOrder("other-parent",
        "active-target");
  }

  @Test
  void removeRefusesWhatTheGuardKeeps() {
    client.prepare(PrepareSnapshotRequest.newBuilder().setKey("kept").putLabels("kept-by", "a pull").build());
    prepare("free", "");

    assertThatThrownBy(() -> client.remove(RemoveSnapshotRequest.newBuilder().setKey("kept").build()))
        .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
          assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
          assertThat(e.getStatus().getDescription()).contains("\"kept\"").contains("kept by a pull");
        });
    client.remove(RemoveSnapshotRequest.newBuilder().setKey("free").build());

    assertThat(list()).extracting(Info::getName).containsExactly("kept");
    assertCode(() -> client.remove(RemoveSnapshotRequest.newBuilder().setKey("missing").build()),
        Status.Code.NOT_FOUND);
  }
}
