package dev.lamina.cli;

import dev.lamina.config.ConfigException;
import dev.lamina.config.ConfigFile;
import dev.lamina.config.OptionDefaults;
import java.nio.file.Path;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/** {@code serve --config FILE}: every other serve option is also a key of FILE; flags override it. */
final class ConfigOptions {
  static final String NAME = "--config";

  @Option(names = NAME, paramLabel = "FILE",
      description = "A TOML file whose keys are serve's long options without the dashes (root = \"/var/lib/lamina\", "
          + "pinned-image = [\"...\"]); flags given on the command line override it. `lamina config default` "
          + "prints every key with its default.")
  Path config;

  /**
   * Makes the file named by {@code --config} in {@code args} the defaults of {@code serve}. The file
   * has to be read before picocli parses the arguments, since it supplies their defaults.
   */
  static void install(CommandLine serve, String[] args) throws ConfigException {
    Path file = null;
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--")) {
        break;
      }
      if (args[i].equals(NAME) && i + 1 < args.length) {
        file = Path.of(args[i + 1]);
      } else if (args[i].startsWith(NAME + "=")) {
        file = Path.of(args[i].substring(NAME.length() + 1));
      }
    }
    if (file == null) {
      return;
    }
    OptionDefaults defaults = OptionDefaults.install(serve, ConfigFile.read(file), NAME);
    // execute() asks the top command's handler, also for errors in a subcommand's arguments
    CommandLine top = serve;
    while (top.getParent() != null) {
      top = top.getParent();
    }
    CommandLine.IParameterExceptionHandler standard = top.getParameterExceptionHandler();
    top.setParameterExceptionHandler((e, a) -> {
      // a bad value that came from the file names the file, not only the flag
      if (e.getArgSpec() instanceof CommandLine.Model.OptionSpec option && defaults.sets(option)
          && !given(option, a)) {
        e.getCommandLine().getErr().println("lamina serve: " + defaults + ": key '"
            + option.longestName().substring(2) + "': " + e.getMessage());
        return 2;
      }
      return standard.handleParseException(e, a);
    });
  }

  private static boolean given(CommandLine.Model.OptionSpec option, String[] args) {
    for (String a : args) {
      for (String name : option.names()) {
        if (a.equals(name) || a.startsWith(name + "=")) {
          return true;
        }
      }
    }
    return false;
  }
}
