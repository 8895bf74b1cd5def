package dev.lamina.processor;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * Finds a program that inflates gzip faster than the JVM's zlib, as containerd looks for
 * {@code unpigz}: ISA-L's {@code igzip} first (some four times zlib's speed), then {@code unpigz}
 * (about twice). Both read stdin and write stdout with {@code -d -c}.
 */
public final class GzipPrograms {
  /** In order of preference. */
  static final List<String> NAMES = List.of("igzip", "unpigz");

  private GzipPrograms() {}

  /** The first of {@link #NAMES} that is an executable file in a directory of {@code path} ($PATH). */
  public static Optional<Path> find(String path) {
    if (path == null || path.isEmpty()) {
      return Optional.empty();
    }
    for (String name : NAMES) {
      for (String dir : path.split(File.pathSeparator)) {
        if (dir.isEmpty()) {
          continue; // the current directory: never for a daemon
        }
        Path candidate = Path.of(dir, name);
        if (runnable(candidate)) {
          return Optional.of(candidate);
        }
      }
    }
    return Optional.empty();
  }

  /** Whether {@code program} is an executable file. */
  public static boolean runnable(Path program) {
    return Files.isRegularFile(program) && Files.isExecutable(program);
  }
}
