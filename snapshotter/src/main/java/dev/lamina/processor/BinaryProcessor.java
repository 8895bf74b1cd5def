package dev.lamina.processor;

import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs an external program as a stream stage: the previous stage is pumped into its stdin, its
 * stdout is this stage's stream. The program learns the input media type from
 * {@code STREAM_PROCESSOR_MEDIATYPE}; a payload for its id is written to a private file named by
 * {@code STREAM_PROCESSOR_PAYLOAD_FILE} (Java cannot hand a child an extra descriptor as
 * containerd does with fd 3). A non-zero exit fails the stage with the program's stderr.
 */
final class BinaryProcessor implements StreamProcessor {
  private static final int STDERR_LIMIT = 8192;

  private final BinaryProcessorConfig config;
  private final Process process;
  private final Thread pump;
  private final Thread stderrReader;
  private final ByteArrayOutputStream stderr = new ByteArrayOutputStream();
  private final Path payloadFile;
  private final StreamProcessor input;
  private volatile IOException pumpError;
  private final InputStream stream;

  BinaryProcessor(BinaryProcessorConfig config, StreamProcessor input, byte[] payload) throws IOException {
    this.config = config;
    this.input = input;
    List<String> command = new ArrayList<>();
    command.add(config.path());
    command.addAll(config.args());
    ProcessBuilder pb = new ProcessBuilder(command);
    pb.environment().putAll(config.env());
    pb.environment().put("STREAM_PROCESSOR_MEDIATYPE", input.mediaType());
    if (payload != null) {
      payloadFile = Files.createTempFile("lamina-payload-", ".bin",
          PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
      Files.write(payloadFile, payload);
      pb.environment().put("STREAM_PROCESSOR_PAYLOAD_FILE", payloadFile.toString());
    } else {
      payloadFile = null;
    }
    try {
      process = pb.start();
    } catch (IOException e) {
      deletePayload();
      throw new LaminaException(ErrorKind.FAILED_PRECONDITION,
          "stream processor " + config.id() + ": cannot start " + config.path() + ": " + e.getMessage(), e);
    }
    this.stream = process.getInputStream();
    pump = new Thread(this::pump, "stream-processor-" + config.id() + "-stdin");
    pump.setDaemon(true);
    pump.start();
    stderrReader = new Thread(this::readStderr, "stream-processor-" + config.id() + "-stderr");
    stderrReader.setDaemon(true);
    stderrReader.start();
  }

  private void pump() {
    byte[] buf = new byte[128 * 1024];
    OutputStream stdin = process.getOutputStream();
    try {
      InputStream in = input.stream();
      int n;
      while ((n = in.read(buf)) >= 0) {
        if (!writeToProgram(stdin, buf, n)) {
          return; // it stopped reading: its exit status says whether that was fine
        }
      }
    } catch (IOException e) {
      // reading the previous stage failed
      if (process.isAlive()) {
        pumpError = e;
        process.destroy();
      }
    } finally {
      try {
        stdin.close();
      } catch (IOException ignored) {
        // a broken pipe again; see writeToProgram
      }
    }
  }

  /**
   * False when the program has closed its stdin (it exited, or needs no more input). Not an error
   * in itself: as with Go's os/exec in containerd, a program that exits 0 without reading all its
   * input succeeds, and one that fails is reported by its exit status and stderr.
   */
  private static boolean writeToProgram(OutputStream stdin, byte[] buf, int n) {
    try {
      stdin.write(buf, 0, n);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private void readStderr() {
    byte[] buf = new byte[4096];
    try (InputStream err = process.getErrorStream()) {
      int n;
      while ((n = err.read(buf)) >= 0) {
        synchronized (stderr) {
          if (stderr.size() < STDERR_LIMIT) {
            stderr.write(buf, 0, Math.min(n, STDERR_LIMIT - stderr.size()));
          }
        }
      }
    } catch (IOException ignored) {
      // the process is gone; what was read is what we report
    }
  }

  @Override
  public String mediaType() {
    return config.returns();
  }

  @Override
  public InputStream stream() {
    return stream;
  }

  @Override
  public void close() throws IOException {
    try {
      stream.close();
      boolean exited = process.waitFor(30, TimeUnit.SECONDS);
      if (!exited) {
        process.destroyForcibly();
        throw new LaminaException(ErrorKind.UNAVAILABLE,
            "stream processor " + config.id() + " did not exit after its output was read");
      }
      pump.join(TimeUnit.SECONDS.toMillis(5));
      stderrReader.join(TimeUnit.SECONDS.toMillis(5));
      if (pumpError != null) {
        // the input's own kind: a registry that went away mid-download is UNAVAILABLE, and retried
        throw new LaminaException(LaminaException.kindOf(pumpError),
            "stream processor " + config.id() + ": reading its input failed: " + pumpError.getMessage(), pumpError);
      }
      int status = process.exitValue();
      if (status != 0) {
        String err;
        synchronized (stderr) {
          err = stderr.toString(StandardCharsets.UTF_8).strip();
        }
        throw LaminaException.invalidArgument("stream processor " + config.id() + " (" + config.path()
            + ") exited with status " + status + (err.isEmpty() ? "" : ": " + err));
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      process.destroyForcibly();
      throw new LaminaException(ErrorKind.UNAVAILABLE, "interrupted waiting for stream processor " + config.id());
    } finally {
      deletePayload();
      input.close();
    }
  }

  private void deletePayload() {
    if (payloadFile != null) {
      try {
        Files.deleteIfExists(payloadFile);
      } catch (IOException ignored) {
        // a temp file in a private mode; nothing else to do
      }
    }
  }
}
