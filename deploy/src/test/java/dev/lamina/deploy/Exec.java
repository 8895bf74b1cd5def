package dev.lamina.deploy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A program run to its end, with its exit status and its output (stdout and stderr together). */
record Exec(List<String> command, int status, String out) {

  static Exec run(String... command) throws IOException, InterruptedException {
    return run(600, command);
  }

  static Exec run(long timeoutSeconds, String... command) throws IOException, InterruptedException {
    Path log = Files.createTempFile("exec-", ".log");
    try {
      Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
      p.getOutputStream().close();
      if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
        p.destroyForcibly().waitFor();
        throw new IOException(String.join(" ", command) + " did not end in " + timeoutSeconds + " s:\n"
            + Files.readString(log, StandardCharsets.UTF_8));
      }
      return new Exec(List.of(command), p.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
    } finally {
      Files.deleteIfExists(log);
    }
  }

  /** Whether {@code program} is on PATH. */
  static boolean installed(String program) {
    for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
      if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, program))) {
        return true;
      }
    }
    return false;
  }

  static boolean root() {
    return new com.sun.security.auth.module.UnixSystem().getUid() == 0;
  }

  boolean ok() {
    return status == 0;
  }

  /** This run, or an exception that names the command, its status and its output. */
  Exec check() throws IOException {
    if (status != 0) {
      throw new IOException(String.join(" ", command) + " exited " + status + ":\n" + out);
    }
    return this;
  }
}
