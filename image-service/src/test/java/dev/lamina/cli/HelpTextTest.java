package dev.lamina.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * The {@code --help} of every command and subcommand: every option and positional parameter is
 * described, every description and summary is shown whole (wrapped between words, never cut or
 * broken inside a word), and no line is wider than the help width.
 */
class HelpTextTest {
  @ParameterizedTest
  @ValueSource(ints = {80, 120})
  void everyCommandsHelpIsWholeAndFits(int width) {
    CommandLine root = Main.commandLine();
    root.setUsageHelpAutoWidth(false);
    root.setUsageHelpWidth(width);
    List<String> problems = new ArrayList<>();
    for (CommandLine cl : tree(root)) {
      CommandSpec spec = cl.getCommandSpec();
      String name = spec.qualifiedName();
      String help = cl.getUsageMessage(CommandLine.Help.Ansi.OFF);
      for (String line : help.split("\n")) {
        if (line.length() > width) {
          problems.add(name + ": line of " + line.length() + " columns: " + line);
        }
      }
      String flat = flatten(help);
      for (String paragraph : spec.usageMessage().description()) {
        checkShown(problems, name, "description", paragraph, flat);
      }
      List<ArgSpec> args = new ArrayList<>(spec.options());
      args.addAll(spec.positionalParameters());
      for (ArgSpec arg : args) {
        if (arg.hidden()) {
          continue;
        }
        String what = arg.isOption() ? ((CommandLine.Model.OptionSpec) arg).longestName() : arg.paramLabel();
        String[] description = arg.description();
        if (description.length == 0 || String.join("", description).isBlank()) {
          problems.add(name + ": " + what + " has no description");
          continue;
        }
        if (arg.arity().max() > 0 && arg.paramLabel().startsWith("<")) {
          problems.add(name + ": " + what + " has no parameter label (" + arg.paramLabel() + ")");
        }
        for (String paragraph : description) {
          String shown = paragraph.replace("${DEFAULT-VALUE}", String.valueOf(arg.defaultValue()));
          checkShown(problems, name, what, shown, flat);
        }
      }
      // the list of subcommands shows each one's whole summary
      for (Map.Entry<String, CommandLine> sub : cl.getSubcommands().entrySet()) {
        CommandLine.Model.UsageMessageSpec usage = sub.getValue().getCommandSpec().usageMessage();
        String[] description = usage.header().length > 0 ? usage.header() : usage.description();
        if (description.length == 0) {
          problems.add(name + " " + sub.getKey() + ": no summary");
          continue;
        }
        checkShown(problems, name + " (its list of commands)", sub.getKey(), description[0], flat);
      }
    }
    assertEquals(List.of(), problems, String.join("\n", problems));
  }

  @ParameterizedTest
  @ValueSource(strings = {"layer", "pull", "serve", "images"})
  void aVerbsHelpIsItsOwnTree(String verb) {
    CommandRun run = CommandRun.of(verb, "--help");
    assertEquals(0, run.exit());
    assertTrue(run.out().startsWith("Usage: lamina " + verb), run.out());
  }

  /** A paragraph must read in the help as written, and end a sentence. */
  private static void checkShown(List<String> problems, String command, String what, String paragraph, String flat) {
    String text = flatten(paragraph);
    if (!flat.contains(text)) {
      problems.add(command + ": " + what + ": not shown whole: " + text);
    }
    if (!text.endsWith(".")) {
      problems.add(command + ": " + what + ": stops mid-sentence: " + text);
    }
  }

  private static String flatten(String s) {
    return s.replace("%n", " ").replaceAll("\\s+", " ").trim();
  }

  private static List<CommandLine> tree(CommandLine root) {
    Map<CommandLine, Boolean> seen = new IdentityHashMap<>();
    List<CommandLine> all = new ArrayList<>();
    List<CommandLine> todo = new ArrayList<>(List.of(root));
    while (!todo.isEmpty()) {
      CommandLine cl = todo.remove(0);
      if (seen.put(cl, true) == null) {
        all.add(cl);
        todo.addAll(cl.getSubcommands().values());
      }
    }
    return all;
  }
}
