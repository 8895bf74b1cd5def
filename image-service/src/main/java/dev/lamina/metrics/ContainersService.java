package dev.lamina.metrics;

import dev.lamina.api.v1.Container;
import dev.lamina.api.v1.ContainersGrpc;
import dev.lamina.api.v1.ListContainersRequest;
import dev.lamina.api.v1.ListContainersResponse;
import dev.lamina.kube.PodContainer;
import io.grpc.stub.StreamObserver;
import java.util.List;
import java.util.function.Supplier;

/** {@code lamina.v1.Containers}: the containers' last measured sizes, for {@code lamina ps}. From memory. */
final class ContainersService extends ContainersGrpc.ContainersImplBase {
  private final Supplier<List<ContainerRow>> rows;

  ContainersService(Supplier<List<ContainerRow>> rows) {
    this.rows = rows;
  }

  @Override
  public void list(ListContainersRequest request, StreamObserver<ListContainersResponse> out) {
    ListContainersResponse.Builder b = ListContainersResponse.newBuilder();
    for (ContainerRow r : rows.get()) {
      b.addContainers(Container.newBuilder()
          .setSnapshotKey(r.size().key())
          .setContainerId(r.size().container().containerId())
          .setSizeRw(r.sizeRw())
          .setSizeRootFs(r.sizeRootFs())
          .setInodes(r.inodes())
          .setNamespace(r.pod().map(PodContainer::namespace).orElse(""))
          .setPod(r.pod().map(PodContainer::pod).orElse(""))
          .setContainer(r.pod().map(PodContainer::container).orElse(""))
          .setImage(r.image())
          .setMeasuredUnixMillis(r.size().measured().toEpochMilli()));
    }
    out.onNext(b.build());
    out.onCompleted();
  }
}
