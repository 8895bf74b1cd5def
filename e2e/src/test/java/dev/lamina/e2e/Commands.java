package dev.lamina.e2e;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/** Runs the external programs e2e tests drive (umoci, mount, tar, bin/lamina), with a deadline. */
final class Commands {
  static final Duration DEFAULT_TIMEOUT = Duration.ofMinutes(2);

  private Commands() {}

  /** What a finished program left behind. */
  record Result(List<String> command, int exitCode, String stdout, String stderr) {
    boolean ok() {
      return exitCode == 0;
    }

    /** Fails with the command line, exit code and both streams unless the program exited 0. */
    Result check() throws IOException {
      if (!ok()) {
        throw new IOException(String.join(" ", command) + " exited " + exitCode
            + (stderr.isBlank() ? "" : "\nstderr: " + stderr.strip())
            + (stdout.isBlank() ? "" : "\nstdout: " + stdout.strip()));
      }
      return this;
    }
  }

  static Result run(String... command) throws IOException {
    return run(null, DEFAULT_TIMEOUT, List.of(command));
  }

  /** Runs {@code command} in {@code dir} (null: inherit), killing it after {@code timeout}. */
  static Result run(Path dir, Duration timeout, List<String> command) throws IOException {
    return run(dir, timeout, Map.of(), command);
  }

  /** As {@link #run(Path, Duration, List)}, with {@code env} added to the environment. */
  static Result run(Path dir, Duration timeout, Map<String, String> env, List<String> command)
      throws IOException {
    ProcessBuilder pb = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.PIPE);
    pb.environment().putAll(env);
    if (dir != null) {
      pb.directory(dir.toFile());
    }
    Process p = pb.start();
    p.getOutputStream().close();
    CompletableFuture<String> out = drain(p.getInputStream());
    CompletableFuture<String> err = drain(p.getErrorStream());
    try {
      if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        p.destroyForcibly().waitFor();
        throw new IOException(String.join(" ", command) + " did not finish within " + timeout);
      }
      return new Result(List.copyOf(command), p.exitValue(), out.get(), err.get());
    } catch (InterruptedException e) {
      p.destroyForcibly();
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while running " + String.join(" ", command), e);
    } catch (ExecutionException e) {
      throw new IOException("reading the output of " + String.join(" ", command), e.getCause());
    }
  }

  /** Whether {@code command} can be started and exits 0 (e.g. {@code umoci --version}). */
  static boolean succeeds(String... command) {
    try {
      return run(null, Duration.ofSeconds(30), List.of(command)).ok();
    } catch (IOException e) {
      return false; // not installed: ProcessBuilder reports ENOENT as an IOException
    }
  }

  /**
   * Reads a stream to its end on a thread of its own: the common pool may have a single worker
   * on a small machine, and stdout and stderr must drain at the same time or a chatty program
   * blocks on a full pipe.
   */
  private static CompletableFuture<String> drain(InputStream in) {
    CompletableFuture<String> text = new CompletableFuture<>();
    Thread t = new Thread(() -> {
      try (in) {
        text.complete(new String(in.readAllBytes(), StandardCharsets.UTF_8));
      } catch (IOException | RuntimeException e) {
        text.completeExceptionally(e);
      }
    }, "drain");
    t.setDaemon(true);
    t.start();
    return text;
  }
}
