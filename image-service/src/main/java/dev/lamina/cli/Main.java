package dev.lamina.cli;

import dev.lamina.config.ConfigException;
import java.util.Arrays;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code lamina} command: the daemon and the operator's tools. */
@Command(
    name = "lamina",
    mixinStandardHelpOptions = true,
    usageHelpAutoWidth = true,
    versionProvider = VersionProvider.class,
    description = "Node-local CRI image service: pulls OCI images, unpacks layers, serves snapshots.")
public final class Main implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  public static void main(String[] args) {
    System.exit(run(args));
  }

  /** Runs the command line and returns the exit code (0 ok, 1 failed, 2 usage). */
  public static int run(String... args) {
    CommandLine cl = commandLine(args);
    CommandLine serve = cl.getSubcommands().get("serve");
    if (serve != null) {
      try {
        ConfigOptions.install(serve, args);
      } catch (ConfigException e) {
        System.err.println("lamina serve: " + e.getMessage());
        return 2;
      }
    }
    return cl.execute(args);
  }

  /**
   * The command tree for {@code args}: only the verb being run, or every verb when args name none.
   * Help is as wide as the terminal (80 columns when that is unknown), wrapped between words.
   */
  static CommandLine commandLine(String... args) {
    CommandLine cl = new CommandLine(new Main());
    // Building a command's model reflects over all its options; a client verb is mostly start-up
    // time, so only the verb being run is built (every verb for help, options or an unknown verb).
    Class<?> only = args.length == 0 ? null : verbNamed(args[0]);
    if (only != null) {
      cl.addSubcommand(only);
    } else {
      VERBS.forEach(cl::addSubcommand);
      cl.addSubcommand(CommandLine.HelpCommand.class);
    }
    cl.setExecutionExceptionHandler(new ErrorReporter());
    cl.setUsageHelpAutoWidth(true); // after the verbs are added: applies to every subcommand
    // every verb's --version says what the top level says
    cl.getSubcommands().values().forEach(sub -> sub.getCommandSpec().versionProvider(new VersionProvider()));
    return cl;
  }

  /** The verbs, in the order help lists them. */
  private static final List<Class<?>> VERBS = List.of(ServeCommand.class, LayerCommand.class, PullCommand.class,
      ImagesCommand.class, InspectImageCommand.class, RemoveImageCommand.class, ImageFsInfoCommand.class,
      PsCommand.class, ConfigCommand.class);

  /** The verb whose {@code @Command} name or alias is {@code word}, or null. */
  private static Class<?> verbNamed(String word) {
    for (Class<?> verb : VERBS) {
      Command c = verb.getAnnotation(Command.class);
      if (c.name().equals(word) || Arrays.asList(c.aliases()).contains(word)) {
        return verb;
      }
    }
    return null;
  }

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }
}
