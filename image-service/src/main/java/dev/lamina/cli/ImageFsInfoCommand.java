package dev.lamina.cli;

import dev.lamina.cri.runtime.v1.Api;
import java.io.PrintWriter;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(
    name = "imagefsinfo",
    mixinStandardHelpOptions = true,
    description = "Show the image filesystem's usage as kubelet sees it (crictl imagefsinfo).")
final class ImageFsInfoCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Mixin CriClient.SocketOption socket;

  @Option(names = "--json", description = "Print the ImageFsInfo response as JSON (crictl imagefsinfo -o json).")
  boolean json;

  @Override
  public Integer call() throws Exception {
    Api.ImageFsInfoResponse r;
    try (CriClient client = CriClient.connect(socket.path())) {
      r = client.call("image filesystem info",
          () -> client.images().imageFsInfo(Api.ImageFsInfoRequest.getDefaultInstance()));
    }
    PrintWriter out = spec.commandLine().getOut();
    if (json) {
      out.println(CriClient.pretty(CriClient.protoJson(r)));
    } else {
      print(out, "Image filesystem", r.getImageFilesystemsList());
      if (r.getContainerFilesystemsCount() > 0) {
        print(out, "Container filesystem", r.getContainerFilesystemsList());
      }
    }
    out.flush();
    return 0;
  }

  private static void print(PrintWriter out, String label, List<Api.FilesystemUsage> filesystems) {
    for (Api.FilesystemUsage fs : filesystems) {
      long used = fs.getUsedBytes().getValue();
      long nanos = fs.getTimestamp();
      out.println(label);
      out.println("  Mountpoint:   " + fs.getFsId().getMountpoint());
      out.println("  Used:         " + CriClient.humanSize(used) + " (" + Long.toUnsignedString(used) + " bytes)");
      out.println("  Inodes used:  " + Long.toUnsignedString(fs.getInodesUsed().getValue()));
      out.println("  Timestamp:    " + Instant.ofEpochSecond(nanos / 1_000_000_000L, nanos % 1_000_000_000L)
          + " (" + nanos + ")");
    }
  }
}
