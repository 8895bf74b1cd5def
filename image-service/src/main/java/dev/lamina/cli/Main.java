package dev.lamina.cli;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code lamina} command: the daemon and the operator's tools. */
@Command(
    name = "lamina",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    description = "Node-local CRI image service: pulls OCI images, unpacks layers, serves snapshots.")
public final class Main implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  public static void main(String[] args) {
    System.exit(run(args));
  }

  /** Runs the command line and returns the exit code (0 ok, 1 failed, 2 usage). */
  public static int run(String... args) {
    CommandLine cl = new CommandLine(new Main());
    // Building a command's model reflects over all its options; a client verb is mostly start-up
    // time, so only the verb being run is built (every verb for help, no verb or an unknown one).
    Map<String, Supplier<Object>> verbs = verbs();
    String verb = verbOf(args);
    Supplier<Object> only = verb == null ? null : verbs.get(ALIASES.getOrDefault(verb, verb));
    if (only != null) {
      cl.addSubcommand(only.get());
    } else {
      verbs.values().forEach(v -> cl.addSubcommand(v.get()));
      cl.addSubcommand(new CommandLine.HelpCommand());
    }
    cl.setExecutionExceptionHandler(new ErrorReporter());
    return cl.execute(args);
  }

  /** Other names of verbs (declared on the verbs' own commands too). */
  private static final Map<String, String> ALIASES = Map.of("image", "images", "img", "images");

  /** The verbs, in the order help lists them. */
  private static Map<String, Supplier<Object>> verbs() {
    Map<String, Supplier<Object>> verbs = new LinkedHashMap<>();
    verbs.put("serve", ServeCommand::new);
    verbs.put("layer", LayerCommand::new);
    verbs.put("pull", PullCommand::new);
    verbs.put("images", ImagesCommand::new);
    verbs.put("inspecti", InspectImageCommand::new);
    verbs.put("rmi", RemoveImageCommand::new);
    verbs.put("imagefsinfo", ImageFsInfoCommand::new);
    return verbs;
  }

  /** The first argument that is not an option: the top command's options take no values. */
  private static String verbOf(String[] args) {
    for (String a : args) {
      if (!a.startsWith("-")) {
        return a;
      }
    }
    return null;
  }

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }
}
