package dev.lamina.cli;

import dev.lamina.api.v1.Container;
import dev.lamina.api.v1.ListContainersRequest;
import dev.lamina.api.v1.ListContainersResponse;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(
    name = "ps",
    mixinStandardHelpOptions = true,
    description = {
      "List the containers on lamina's snapshots, largest writable layer first.",
      "Columns: SizeRw (what the container wrote), SizeRootFs (SizeRw plus its image's layers), inodes, "
          + "and the pod when the daemon knows it. Sizes are the daemon's last background measurement "
          + "(--size-interval)."
    })
final class PsCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Mixin CriClient.SocketOption socket;

  @Option(names = "--json", description = "Print the containers as JSON.")
  boolean json;

  @Override
  public Integer call() throws Exception {
    ListContainersResponse r;
    try (CriClient client = CriClient.connect(socket.path())) {
      r = client.call("list containers", () -> client.containers().list(ListContainersRequest.getDefaultInstance()));
    }
    List<Container> sorted = new ArrayList<>(r.getContainersList());
    sorted.sort(Comparator.comparingLong(Container::getSizeRw).reversed()
        .thenComparing(Container::getContainerId));
    PrintWriter out = spec.commandLine().getOut();
    if (json) {
      out.println(CriClient.pretty(CriClient.protoJson(r.toBuilder().clearContainers().addAllContainers(sorted))));
    } else {
      List<List<String>> rows = new ArrayList<>();
      rows.add(List.of("CONTAINER", "POD", "NAMESPACE", "NAME", "IMAGE", "SIZE RW", "SIZE ROOTFS", "INODES"));
      for (Container c : sorted) {
        rows.add(List.of(CriClient.truncatedId(c.getContainerId()), dash(c.getPod()), dash(c.getNamespace()),
            dash(c.getContainer()), dash(c.getImage()), CriClient.humanSize(c.getSizeRw()),
            CriClient.humanSize(c.getSizeRootFs()), Long.toUnsignedString(c.getInodes())));
      }
      out.print(CriClient.table(rows));
    }
    out.flush();
    return 0;
  }

  private static String dash(String s) {
    return s.isEmpty() ? "-" : s;
  }
}
