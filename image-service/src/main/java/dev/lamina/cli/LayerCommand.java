package dev.lamina.cli;

import picocli.CommandLine.Command;

@Command(
    name = "layer",
    mixinStandardHelpOptions = true,
    description = "Apply and compute OCI layers on plain directories.",
    subcommands = {LayerApplyCommand.class, LayerDiffCommand.class, BenchCommand.class})
final class LayerCommand {}
