package dev.lamina.services;

import com.google.protobuf.Any;
import dev.lamina.containerd.diff.v1.ApplyRequest;
import dev.lamina.containerd.diff.v1.ApplyResponse;
import dev.lamina.containerd.diff.v1.DiffGrpc;
import dev.lamina.containerd.diff.v1.DiffRequest;
import dev.lamina.containerd.diff.v1.DiffResponse;
import dev.lamina.diff.ApplyConfig;
import dev.lamina.diff.DiffConfig;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.oci.Descriptor;
import io.grpc.stub.StreamObserver;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * containerd's Diff API (containerd's {@code services/diff/service.go}): the gRPC edge, which only
 * converts messages and hands the work to {@link LocalDiffService}.
 */
public final class DiffService extends DiffGrpc.DiffImplBase {
  private final LocalDiffService local;

  public DiffService(LocalDiffService local) {
    this.local = local;
  }

  @Override
  public void apply(ApplyRequest req, StreamObserver<ApplyResponse> out) {
    Calls.unary(out, () -> {
      if (!req.hasDiff()) {
        throw LaminaException.invalidArgument("apply needs the diff descriptor");
      }
      Descriptor layer = Protos.descriptor(req.getDiff());
      Map<String, byte[]> payloads = new LinkedHashMap<>();
      for (Map.Entry<String, Any> e : req.getPayloadsMap().entrySet()) {
        payloads.put(e.getKey(), e.getValue().toByteArray());
      }
      Descriptor applied = local.apply(layer, Protos.mounts(req.getMountsList()),
          new ApplyConfig(payloads, req.getSyncFs()));
      return ApplyResponse.newBuilder().setApplied(Protos.toProto(applied)).build();
    });
  }

  @Override
  public void diff(DiffRequest req, StreamObserver<DiffResponse> out) {
    Calls.unary(out, () -> {
      DiffConfig config = new DiffConfig(req.getMediaType(), req.getRef(), req.getLabelsMap(),
          req.hasSourceDateEpoch() ? Protos.instant(req.getSourceDateEpoch()) : null);
      Descriptor diff = local.diff(Protos.mounts(req.getLeftList()), Protos.mounts(req.getRightList()), config);
      return DiffResponse.newBuilder().setDiff(Protos.toProto(diff)).build();
    });
  }
}
