package dev.lamina.services;

import dev.lamina.containerd.snapshots.v1.CommitSnapshotRequest;
import dev.lamina.snapshots.Snapshotter;
import dev.lamina.snapshots.copying.CopyingSnapshotter;
import io.grpc.Status;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The Snapshots API over the real copying snapshotter. */
class CopyingSnapshotsServiceTest extends SnapshotsServiceTest {
  @Override
  Snapshotter create(Path root) throws IOException {
    return CopyingSnapshotter.open(root);
  }

  /** A full copy cannot take a parent after the fact: the snapshotter says so, the API passes it on. */
  @Override
  @Test
  void commitWithParentRebases() {
    prepare("base-active", "");
    commit("base", "base-active");
    prepare("top-active", "");
    assertCode(() -> client.commit(CommitSnapshotRequest.newBuilder().setName("top").setKey("top-active")
        .setParent("base").build()), Status.Code.UNIMPLEMENTED);
  }
}
