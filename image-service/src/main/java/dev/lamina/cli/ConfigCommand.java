package dev.lamina.cli;

import dev.lamina.config.ConfigException;
import dev.lamina.config.ConfigFile;
import dev.lamina.config.ConfigTemplate;
import dev.lamina.config.OptionDefaults;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code lamina config}: the configuration file of {@code lamina serve}. */
@Command(
    name = "config",
    mixinStandardHelpOptions = true,
    description = "The configuration file of lamina serve (serve --config FILE).",
    subcommands = {ConfigCommand.Default.class, ConfigCommand.Check.class})
final class ConfigCommand implements Runnable {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Override
  public void run() {
    spec.commandLine().usage(System.out);
  }

  @Command(name = "default", mixinStandardHelpOptions = true,
      description = "Print a configuration file with every serve option at its default and its description.")
  static final class Default implements Callable<Integer> {
    @Override
    public Integer call() {
      System.out.print(text());
      return 0;
    }

    static String text() {
      CommandLine.Model.CommandSpec serve = new CommandLine(new ServeCommand()).getCommandSpec();
      return ConfigTemplate.render(serve, """
          lamina serve configuration (lamina serve --config FILE).
          Each key is a serve option without its dashes; a flag on the command line overrides the file.
          A table groups keys by their first word: [containerd] address = "..." is containerd-address.
          Commented-out keys have no default.""", ConfigOptions.NAME);
    }
  }

  @Command(name = "check", mixinStandardHelpOptions = true,
      description = {"Check a configuration file against serve's options without starting anything.",
          "Checks as serve --config FILE would at start. Exit 0 when serve accepts it."})
  static final class Check implements Callable<Integer> {
    @CommandLine.Parameters(paramLabel = "FILE", description = "The TOML file.")
    Path file;

    @Override
    public Integer call() {
      CommandLine serve = new CommandLine(new ServeCommand());
      try {
        OptionDefaults.install(serve, ConfigFile.read(file), ConfigOptions.NAME);
        serve.parseArgs(); // converts every value the file sets, as the start would
      } catch (ConfigException e) {
        System.err.println("lamina config check: " + e.getMessage());
        return 1;
      } catch (CommandLine.ParameterException e) {
        System.err.println("lamina config check: " + file + ": " + e.getMessage());
        return 1;
      }
      System.out.println(file + ": ok");
      return 0;
    }
  }
}
