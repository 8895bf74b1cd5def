package dev.lamina.cli;

import dev.lamina.cri.runtime.v1.Api;
import java.io.Console;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Callable;
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
      "REF is normalized: busybox is docker.io/library/busybox:latest. Prints the image ID."
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

  @Override
  public Integer call() throws Exception {
    Api.AuthConfig authConfig = authConfig();
    Api.PullImageRequest.Builder req = Api.PullImageRequest.newBuilder()
        .setImage(Api.ImageSpec.newBuilder().setImage(ref));
    if (authConfig != null) {
      req.setAuth(authConfig);
    }
    PrintWriter out = spec.commandLine().getOut();
    Api.PullImageResponse r;
    try (CriClient client = CriClient.connect(socket.path());
        Spinner spinner = Spinner.startIf(!json && System.console() != null, spec.commandLine().getErr(),
            "Pulling " + ref)) {
      r = client.call("pull " + ref, () -> client.imagesNoDeadline().pullImage(req.build()));
      spinner.done();
    }
    if (json) {
      out.println(CriClient.pretty(CriClient.protoJson(r)));
    } else {
      out.println("Image is up to date for " + r.getImageRef());
    }
    out.flush();
    return 0;
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
   * PullImage is one unary call with no progress of its own: on a terminal, a spinner and the time
   * so far on standard error, wiped when the call returns.
   */
  static final class Spinner implements AutoCloseable {
    private static final char[] FRAMES = {'|', '/', '-', '\\'};
    private final PrintWriter err;
    private final String what;
    private final Thread thread;
    private final long start = System.nanoTime();
    private volatile boolean running = true;

    private Spinner(PrintWriter err, String what, boolean enabled) {
      this.err = err;
      this.what = what;
      this.thread = enabled ? new Thread(this::spin, "lamina-spinner") : null;
      if (thread != null) {
        thread.setDaemon(true);
        thread.start();
      }
    }

    static Spinner startIf(boolean terminal, PrintWriter err, String what) {
      return new Spinner(err, what, terminal);
    }

    private void spin() {
      int i = 0;
      while (running) {
        Duration d = Duration.ofNanos(System.nanoTime() - start);
        synchronized (err) {
          err.print(String.format(Locale.ROOT, "\r%c %s  %.1fs", FRAMES[i++ % FRAMES.length], what,
              d.toMillis() / 1000.0));
          err.flush();
        }
        try {
          Thread.sleep(100);
        } catch (InterruptedException e) {
          return;
        }
      }
    }

    /** Stops the spinner and wipes its line. */
    void done() {
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
      synchronized (err) {
        err.print("\r\033[K");
        err.flush();
      }
    }

    @Override
    public void close() {
      done();
    }
  }
}
