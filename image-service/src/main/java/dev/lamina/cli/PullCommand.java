package dev.lamina.cli;

import dev.lamina.api.v1.PullProgress;
import dev.lamina.api.v1.PullRequest;
import dev.lamina.cri.runtime.v1.Api;
import dev.lamina.errdefs.LaminaException;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.Console;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(
    name = "pull",
    mixinStandardHelpOptions = true,
    description = {
      "Pull an image through the daemon, as kubelet does (crictl pull).",
      "REF is normalized: busybox is docker.io/library/busybox:latest. On a terminal, each layer's state,"
          + " bytes and rate are shown as they change; at the end one line says what was fetched and"
          + " the image ID."
    })
final class PullCommand implements Callable<Integer> {
  @Spec CommandSpec spec;

  @Mixin CriClient.SocketOption socket;

  @Option(names = "--creds", paramLabel = "USER[:PASS]", description = "Registry credentials.")
  String creds;

  @Option(names = {"--auth", "-a"}, paramLabel = "BASE64", description = "Registry credentials: base64 of USER:PASS.")
  String auth;

  @Option(names = {"--username", "-u"}, paramLabel = "USER",
      description = "Registry user; the password is read from the terminal.")
  String username;

  @Option(names = "--registry-token", paramLabel = "TOKEN", description = "A bearer token sent to the registry as it is.")
  String registryToken;

  @Option(names = "--identity-token", paramLabel = "TOKEN",
      description = "An OAuth2 refresh token for the registry's token server.")
  String identityToken;

  @Option(names = "--server-address", paramLabel = "HOST",
      description = "Send the credentials only to this registry.")
  String serverAddress;

  @Option(names = "--json", description = "Print {\"imageRef\": ID} as JSON.")
  boolean json;

  @Parameters(index = "0", paramLabel = "REF", description = "The image: name[:tag] or name@digest.")
  String ref;

  enum Progress { auto, tty, none }

  @Option(names = "--progress", paramLabel = "MODE",
      description = "Per-layer progress on standard error: auto (when it is a terminal), tty (always), none.")
  Progress progress = Progress.auto;

  @Override
  public Integer call() throws Exception {
    Api.AuthConfig authConfig = authConfig();
    Api.ImageSpec image = Api.ImageSpec.newBuilder().setImage(ref).build();
    boolean live = !json && (progress == Progress.tty || (progress == Progress.auto && System.console() != null));
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    String imageId;
    String summary;
    try (CriClient client = CriClient.connect(socket.path())) {
      PullProgress last = streamed(client, image, authConfig, live, err);
      if (last != null) {
        imageId = last.getImageId();
        summary = PullProgressView.summary(last);
      } else {
        // not lamina's socket (containerd's or CRI-O's CRI): one unary call, a spinner meanwhile
        long start = System.nanoTime();
        Api.PullImageRequest.Builder req = Api.PullImageRequest.newBuilder().setImage(image);
        if (authConfig != null) {
          req.setAuth(authConfig);
        }
        Api.PullImageResponse r;
        try (LiveLines spinner = new LiveLines(err, live, true, spinner(start))) {
          r = client.call("pull " + ref, () -> client.imagesNoDeadline().pullImage(req.build()));
        }
        imageId = r.getImageRef();
        summary = "Pulled " + ref + " in " + PullProgressView.clock(Duration.ofNanos(System.nanoTime() - start))
            + "; image " + imageId;
      }
    }
    if (json) {
      out.println(CriClient.pretty(CriClient.protoJson(Api.PullImageResponse.newBuilder().setImageRef(imageId).build())));
    } else {
      out.println(summary);
    }
    out.flush();
    return 0;
  }

  /**
   * Pulls through {@code lamina.v1.Pulls}, drawing its progress when {@code live}; the last
   * message, or null when the daemon does not serve that API.
   */
  private PullProgress streamed(CriClient client, Api.ImageSpec image, Api.AuthConfig auth, boolean live,
      PrintWriter err) throws LaminaException {
    PullRequest.Builder req = PullRequest.newBuilder().setImage(image);
    if (auth != null) {
      req.setAuth(auth);
    }
    long start = System.nanoTime();
    AtomicReference<PullProgress> latest = new AtomicReference<>();
    PullProgressView view = new PullProgressView();
    try (LiveLines lines = new LiveLines(err, live, false, () -> {
      long now = System.nanoTime();
      PullProgress p = latest.get();
      return view.lines(p == null ? PullProgress.newBuilder().setReference(ref).build() : p, now,
          Duration.ofNanos(now - start));
    })) {
      return client.call("pull " + ref, () -> {
        Iterator<PullProgress> it = client.pullsNoDeadline().pull(req.build());
        try {
          while (it.hasNext()) {
            PullProgress p = it.next();
            latest.set(p);
            if (!p.getImageId().isEmpty()) {
              lines.redraw(); // the final state stays on the terminal above the summary
              return p;
            }
          }
        } catch (StatusRuntimeException e) {
          if (e.getStatus().getCode() == Status.Code.UNIMPLEMENTED && latest.get() == null) {
            return null;
          }
          throw e;
        }
        throw Status.INTERNAL.withDescription("the pull's progress ended without an image ID").asRuntimeException();
      });
    }
  }

  private Supplier<List<String>> spinner(long start) {
    char[] frames = {'|', '/', '-', '\\'};
    return () -> {
      Duration d = Duration.ofNanos(System.nanoTime() - start);
      return List.of(frames[(int) (d.toMillis() / 100 % frames.length)] + " Pulling " + ref + "  "
          + PullProgressView.clock(d));
    };
  }

  /** crictl's {@code getAuth}: --username (prompting), --creds or --auth, plus the tokens. */
  private Api.AuthConfig authConfig() {
    int given = (creds != null ? 1 : 0) + (auth != null ? 1 : 0) + (username != null ? 1 : 0);
    if (given > 1) {
      throw new CommandLine.ParameterException(spec.commandLine(),
          "give only one of --creds, --auth and --username");
    }
    Api.AuthConfig.Builder a = Api.AuthConfig.newBuilder();
    if (username != null) {
      Console console = System.console();
      if (console == null) {
        throw new CommandLine.ParameterException(spec.commandLine(),
            "--username reads the password from a terminal; use --creds USER:PASS or --auth without one");
      }
      char[] password = console.readPassword("Enter Password: ");
      a.setUsername(username).setPassword(password == null ? "" : new String(password));
    }
    if (creds != null) {
      if (creds.isEmpty()) {
        throw new CommandLine.ParameterException(spec.commandLine(), "--creds can't be empty");
      }
      int colon = creds.indexOf(':');
      String user = colon < 0 ? creds : creds.substring(0, colon);
      if (user.isEmpty()) {
        throw new CommandLine.ParameterException(spec.commandLine(), "--creds: the user name can't be empty");
      }
      a.setUsername(user).setPassword(colon < 0 ? "" : creds.substring(colon + 1));
    }
    if (auth != null) {
      a.setAuth(auth);
    }
    if (registryToken != null) {
      a.setRegistryToken(registryToken);
    }
    if (identityToken != null) {
      a.setIdentityToken(identityToken);
    }
    if (serverAddress != null) {
      a.setServerAddress(serverAddress);
    }
    Api.AuthConfig built = a.build();
    return built.equals(Api.AuthConfig.getDefaultInstance()) ? null : built;
  }

  /**
   * Lines redrawn in place on a terminal (standard error) every {@link #FRAME} until closed: each
   * draw moves the cursor back over the lines drawn before. Lines are cut to the terminal's
   * width ({@code $COLUMNS}, else 80) so that none wraps and throws the count off.
   */
  static final class LiveLines implements AutoCloseable {
    static final Duration FRAME = Duration.ofMillis(100);
    private final PrintWriter err;
    private final Supplier<List<String>> lines;
    private final boolean wipe;
    private final Thread thread;
    private final int width;
    private volatile boolean running = true;
    // guarded by err
    private int shown;

    /** @param wipe erase the lines when closed, else leave the last drawing */
    LiveLines(PrintWriter err, boolean enabled, boolean wipe, Supplier<List<String>> lines) {
      this.err = err;
      this.lines = lines;
      this.wipe = wipe;
      this.width = columns();
      this.thread = enabled ? new Thread(this::run, "lamina-progress") : null;
      if (thread != null) {
        thread.setDaemon(true);
        thread.start();
      }
    }

    private static int columns() {
      try {
        int c = Integer.parseInt(System.getenv().getOrDefault("COLUMNS", "80").strip());
        return c > 10 ? c : 80;
      } catch (NumberFormatException e) {
        return 80;
      }
    }

    private void run() {
      while (running) {
        redraw();
        try {
          Thread.sleep(FRAME.toMillis());
        } catch (InterruptedException e) {
          return;
        }
      }
    }

    /** Draws the lines now (nothing when not on a terminal). */
    void redraw() {
      if (thread == null) {
        return;
      }
      List<String> now = lines.get();
      synchronized (err) {
        StringBuilder b = new StringBuilder();
        if (shown > 0) {
          b.append("\033[").append(shown).append('F');
        }
        for (String l : now) {
          b.append("\033[2K").append(l.length() >= width ? l.substring(0, width - 1) : l).append('\n');
        }
        if (now.size() < shown) {
          b.append("\033[J");
        }
        shown = now.size();
        err.print(b);
        err.flush();
      }
    }

    @Override
    public void close() {
      if (thread == null || !running) {
        return;
      }
      running = false;
      thread.interrupt();
      try {
        thread.join(1000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      if (wipe) {
        synchronized (err) {
          if (shown > 0) {
            err.print("\033[" + shown + "F\033[J");
          }
          shown = 0;
          err.flush();
        }
      }
    }
  }
}
