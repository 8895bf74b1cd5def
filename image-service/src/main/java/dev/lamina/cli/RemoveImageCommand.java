package dev.lamina.cli;

import dev.lamina.cri.runtime.v1.Api;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(
    name = "rmi",
    mixinStandardHelpOptions = true,
    description = {
      "Remove images by ID, ID prefix, tag or digest (crictl rmi).",
      "As CRI defines it, removing an image by one tag removes the whole image with all its tags.",
      "Prints \"Deleted: NAME\" for each name removed; a REF that names no image is an error, the "
          + "others are still removed."
    })
final class RemoveImageCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Mixin CriClient.SocketOption socket;

  @Parameters(arity = "1..*", paramLabel = "REF", description = "Image ID, ID prefix, tag or digest reference.")
  List<String> refs;

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    List<String> failures = new ArrayList<>();
    ErrorKind kind = null;
    try (CriClient client = CriClient.connect(socket.path())) {
      for (String ref : refs) {
        Api.ImageSpec image = Api.ImageSpec.newBuilder().setImage(ref).build();
        try {
          Api.ImageStatusResponse status = client.call("remove image " + ref,
              () -> client.images().imageStatus(Api.ImageStatusRequest.newBuilder().setImage(image).build()));
          if (!status.hasImage()) {
            throw LaminaException.notFound("no such image " + ref);
          }
          Api.Image found = status.getImage();
          boolean byName = !ref.startsWith("sha256:") && (ref.contains(":") || ref.contains("/"));
          if (byName && found.getRepoTagsCount() > 1) {
            err.println("lamina: image " + ref + " has " + found.getRepoTagsCount()
                + " tags; removing it removes all of them: " + String.join(", ", found.getRepoTagsList()));
          }
          client.call("remove image " + ref,
              () -> client.images().removeImage(Api.RemoveImageRequest.newBuilder().setImage(image).build()));
          List<String> names = found.getRepoTagsCount() > 0 ? found.getRepoTagsList() : found.getRepoDigestsList();
          if (names.isEmpty()) {
            out.println("Deleted: " + found.getId());
          }
          names.forEach(n -> out.println("Deleted: " + n));
          out.flush();
        } catch (LaminaException e) {
          if (e.kind() == ErrorKind.UNAVAILABLE || e.kind() == ErrorKind.PERMISSION_DENIED) {
            throw e;
          }
          failures.add(e.getMessage());
          kind = kind == null ? e.kind() : kind;
        }
      }
    }
    if (!failures.isEmpty()) {
      for (int i = 0; i < failures.size() - 1; i++) {
        err.println("lamina: " + failures.get(i));
      }
      err.flush();
      throw new LaminaException(kind, failures.get(failures.size() - 1));
    }
    return 0;
  }
}
