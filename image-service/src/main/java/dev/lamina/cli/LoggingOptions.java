package dev.lamina.cli;

import dev.lamina.logging.JsonLogProvider;
import java.util.Locale;
import picocli.CommandLine.Option;

/**
 * {@code --log-level} and {@code --log-format}, for the daemon. The level is lamina's own; other
 * libraries (Netty, gRPC) log at info or above unless the level is trace. Settings given with
 * {@code -Dorg.slf4j.simpleLogger.*} in the JVM options win over these. Applied before the first
 * logger exists: SLF4J chooses its provider once.
 */
final class LoggingOptions {
  enum Format { text, json }

  enum LogLevel { error, warn, info, debug, trace }

  @Option(names = "--log-level", paramLabel = "error|warn|info|debug|trace", defaultValue = "info",
      description = "How much the daemon logs. Credentials are never logged. Default: ${DEFAULT-VALUE}.")
  LogLevel level = LogLevel.info;

  @Option(names = "--log-format", paramLabel = "text|json", defaultValue = "text",
      description = "text: one line per event; json: one JSON object per line (time, level, logger, thread, "
          + "msg, error), for log collectors. Default: ${DEFAULT-VALUE}.")
  Format format = Format.text;

  /** Sets the SLF4J provider and levels; call before anything logs. */
  void apply() {
    String lamina = level.name().toLowerCase(Locale.ROOT);
    String others = level.compareTo(LogLevel.info) > 0 && level != LogLevel.trace ? "info" : lamina;
    setIfAbsent("org.slf4j.simpleLogger.defaultLogLevel", others);
    setIfAbsent("org.slf4j.simpleLogger.log.dev.lamina", lamina);
    if (format == Format.json) {
      setIfAbsent("slf4j.provider", JsonLogProvider.class.getName());
      // SLF4J says on standard error which provider it loads: a line that is not JSON
      setIfAbsent("slf4j.internal.verbosity", "WARN");
    }
  }

  private static void setIfAbsent(String key, String value) {
    if (System.getProperty(key) == null) {
      System.setProperty(key, value);
    }
  }
}
