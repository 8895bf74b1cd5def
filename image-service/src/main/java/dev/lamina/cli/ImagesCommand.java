package dev.lamina.cli;

import dev.lamina.cri.runtime.v1.Api;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(
    name = "images",
    aliases = {"image", "img"},
    mixinStandardHelpOptions = true,
    description = {
      "List images (crictl images).",
      "Columns IMAGE, TAG, IMAGE ID (13 digits) and SIZE (decimal units, as crictl).",
      "With REF, only the image it names (a reference, normalized, or an image ID)."
    })
final class ImagesCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Mixin CriClient.SocketOption socket;

  @Option(names = "--json", description = "Print the ListImages response as JSON (crictl images -o json).")
  boolean json;

  @Option(names = "--digests", description = "Show a DIGEST column.")
  boolean digests;

  @Option(names = "--no-trunc", description = "Show whole IDs and digests.")
  boolean noTrunc;

  @Option(names = {"--quiet", "-q"}, description = "Print image IDs only.")
  boolean quiet;

  @Parameters(index = "0", arity = "0..1", paramLabel = "REF", description = "Show only this image.")
  String ref;

  @Override
  public Integer call() throws Exception {
    Api.ListImagesRequest.Builder req = Api.ListImagesRequest.newBuilder();
    if (ref != null) {
      req.setFilter(Api.ImageFilter.newBuilder().setImage(Api.ImageSpec.newBuilder().setImage(ref)));
    }
    Api.ListImagesResponse r;
    try (CriClient client = CriClient.connect(socket.path())) {
      r = client.call("list images", () -> client.images().listImages(req.build()));
    }
    List<Api.Image> images = new ArrayList<>(r.getImagesList());
    images.sort(CRICTL_ORDER);
    PrintWriter out = spec.commandLine().getOut();
    if (json) {
      out.println(CriClient.pretty(CriClient.protoJson(Api.ListImagesResponse.newBuilder().addAllImages(images))));
    } else if (quiet) {
      images.forEach(i -> out.println(i.getId()));
    } else {
      out.print(CriClient.table(rows(images)));
    }
    out.flush();
    return 0;
  }

  /** crictl's order: by first tag, else first digest, else ID. */
  static final Comparator<Api.Image> CRICTL_ORDER = (a, b) -> {
    if (a.getRepoTagsCount() > 0 && b.getRepoTagsCount() > 0) {
      return a.getRepoTags(0).compareTo(b.getRepoTags(0));
    }
    if (a.getRepoDigestsCount() > 0 && b.getRepoDigestsCount() > 0) {
      return a.getRepoDigests(0).compareTo(b.getRepoDigests(0));
    }
    return a.getId().compareTo(b.getId());
  };

  /** One row per tag, as crictl prints them; an untagged image is one row with TAG {@code <none>}. */
  List<List<String>> rows(List<Api.Image> images) {
    List<List<String>> rows = new ArrayList<>();
    List<String> header = new ArrayList<>(List.of("IMAGE", "TAG"));
    if (digests) {
      header.add("DIGEST");
    }
    header.addAll(List.of("IMAGE ID", "SIZE"));
    rows.add(header);
    for (Api.Image image : images) {
      String name = "<none>";
      String digest = "<none>";
      if (image.getRepoDigestsCount() > 0) {
        String first = image.getRepoDigests(0);
        int at = first.indexOf('@');
        name = at < 0 ? first : first.substring(0, at);
        digest = at < 0 ? first : first.substring(at + 1);
      }
      String id = noTrunc ? image.getId() : CriClient.truncatedId(image.getId());
      if (!noTrunc && !digest.equals("<none>")) {
        digest = CriClient.truncatedId(digest);
      }
      String size = CriClient.humanSize(image.getSize());
      List<String[]> pairs = new ArrayList<>();
      if (image.getRepoTagsCount() == 0) {
        pairs.add(new String[] {name, "<none>"});
      }
      for (String tag : image.getRepoTagsList()) {
        int colon = tag.lastIndexOf(':');
        pairs.add(colon < 0 ? new String[] {tag, "<none>"} : new String[] {tag.substring(0, colon), tag.substring(colon + 1)});
      }
      for (String[] pair : pairs) {
        List<String> row = new ArrayList<>(List.of(pair[0], pair[1]));
        if (digests) {
          row.add(digest);
        }
        row.add(id);
        row.add(size);
        rows.add(row);
      }
    }
    return rows;
  }
}
