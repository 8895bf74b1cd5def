package dev.lamina.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lamina.cri.runtime.v1.Api;
import dev.lamina.errdefs.LaminaException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(
    name = "inspecti",
    mixinStandardHelpOptions = true,
    description = {
      "Show an image's status and verbose info as JSON (crictl inspecti).",
      "Prints {\"status\": Image, \"info\": {...}}; the info holds the image config (imageSpec), its "
          + "chain IDs and manifest digest.",
      "With more than one REF, a JSON array."
    })
final class InspectImageCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Mixin CriClient.SocketOption socket;

  @Option(names = "--json", description = "JSON output; the default, accepted for symmetry with the other commands.")
  boolean json;

  @Option(names = {"--quiet", "-q"}, description = "Leave out the verbose info.")
  boolean quiet;

  @Parameters(arity = "1..*", paramLabel = "REF", description = "Image ID, ID prefix, or reference.")
  List<String> refs;

  @Override
  public Integer call() throws Exception {
    List<JsonNode> results = new ArrayList<>();
    try (CriClient client = CriClient.connect(socket.path())) {
      for (String ref : refs) {
        Api.ImageStatusRequest req = Api.ImageStatusRequest.newBuilder()
            .setImage(Api.ImageSpec.newBuilder().setImage(ref)).setVerbose(!quiet).build();
        Api.ImageStatusResponse r = client.call("inspect image " + ref, () -> client.images().imageStatus(req));
        if (!r.hasImage()) {
          throw LaminaException.notFound("no such image \"" + ref + "\" present");
        }
        results.add(render(r));
      }
    }
    PrintWriter out = spec.commandLine().getOut();
    if (results.size() == 1) {
      out.println(CriClient.pretty(results.get(0)));
    } else {
      ArrayNode all = JsonNodeFactory.instance.arrayNode();
      all.addAll(results);
      out.println(CriClient.pretty(all));
    }
    out.flush();
    return 0;
  }

  /** crictl's shape: the Image as protobuf JSON under "status", each info value parsed when it is JSON. */
  static ObjectNode render(Api.ImageStatusResponse r) {
    ObjectNode o = JsonNodeFactory.instance.objectNode();
    o.set("status", CriClient.protoJson(r.getImage()));
    if (r.getInfoCount() > 0) {
      ObjectNode info = o.putObject("info");
      for (Map.Entry<String, String> e : new TreeMap<>(r.getInfoMap()).entrySet()) {
        info.set(e.getKey(), CriClient.parseOrString(e.getValue()));
      }
    }
    return o;
  }
}
