package dev.lamina.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code lamina} command: the daemon and the operator's tools. */
@Command(
    name = "lamina",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    description = "Node-local CRI image service: pulls OCI images, unpacks layers, serves snapshots.",
    subcommands = {ServeCommand.class, LayerCommand.class, PullCommand.class, ImagesCommand.class, InspectImageCommand.class, RemoveImageCommand.class, ImageFsInfoCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  public static void main(String[] args) {
    System.exit(run(args));
  }

  /** Runs the command line and returns the exit code (0 ok, 1 failed, 2 usage). */
  public static int run(String... args) {
    CommandLine cl = new CommandLine(new Main());
    cl.setExecutionExceptionHandler(new ErrorReporter());
    return cl.execute(args);
  }

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }
}
