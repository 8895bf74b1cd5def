package dev.lamina.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.ByteString;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.MapEntry;
import com.google.protobuf.MessageOrBuilder;
import dev.lamina.cri.runtime.v1.ImageServiceGrpc;
import dev.lamina.errdefs.ErrorKind;
import dev.lamina.errdefs.LaminaException;
import dev.lamina.server.UnixSockets;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.MathContext;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import picocli.CommandLine.Option;

/**
 * What the CRI commands ({@code pull}, {@code images}, {@code inspecti}, {@code rmi},
 * {@code imagefsinfo}) share: the {@code --socket} option, a gRPC channel to the daemon's CRI
 * socket (grpc-netty over an epoll unix domain socket), errors that say what to do, and output in
 * crictl's shapes (tables, human sizes, protobuf JSON).
 */
final class CriClient implements AutoCloseable {
  static final String DEFAULT_SOCKET = "/run/lamina/lamina.sock";
  static final String SOCKET_ENV = "LAMINA_SOCKET";
  /** Deadline of every call but a pull, which may take as long as the image needs. */
  static final Duration CALL_TIMEOUT = Duration.ofMinutes(2);
  /** crictl's {@code truncatedIDLen}. */
  static final int TRUNCATED_ID = 13;

  /** The {@code --socket} option every CRI command mixes in. */
  static final class SocketOption {
    @Option(names = "--socket", paramLabel = "PATH",
        description = "The daemon's CRI socket, PATH or unix://PATH. Default: $" + SOCKET_ENV + " when set, "
            + "else " + DEFAULT_SOCKET + ".")
    String socket;

    Path path() {
      return resolve(socket, System.getenv(SOCKET_ENV));
    }

    static Path resolve(String option, String env) {
      String s = option != null && !option.isBlank() ? option : env != null && !env.isBlank() ? env : DEFAULT_SOCKET;
      if (s.startsWith("unix://")) {
        s = s.substring("unix://".length());
      }
      return Path.of(s);
    }
  }

  static {
    // grpc-netty sets SO_KEEPALIVE on every channel; on a unix socket Netty warns about it once per
    // connection, which would be on every command's standard error. Set before Netty's Bootstrap
    // class (and its logger) loads.
    if (System.getProperty("org.slf4j.simpleLogger.log.io.netty.bootstrap") == null) {
      System.setProperty("org.slf4j.simpleLogger.log.io.netty.bootstrap", "error");
    }
    // Netty's buffer pools announce themselves to Flight Recorder, whose start-up alone is some 75 ms
    // of a command that lasts 600; a client has nothing to record.
    if (System.getProperty("io.netty.jfr.enabled") == null) {
      System.setProperty("io.netty.jfr.enabled", "false");
    }
  }

  private final Path socket;
  private final EventLoopGroup loop;
  private final ManagedChannel channel;

  private CriClient(Path socket) {
    this.socket = socket;
    this.loop = new MultiThreadIoEventLoopGroup(1, new DefaultThreadFactory("lamina-cli", true),
        EpollIoHandler.newFactory());
    this.channel = UnixSockets.channel(socket, loop);
  }

  /**
   * A client of the daemon at {@code socket}, once a connection there works: a missing socket, a
   * refused connection or a socket this user may not open fail here with a hint.
   */
  static CriClient connect(Path socket) throws LaminaException {
    if (!Epoll.isAvailable()) {
      throw new LaminaException(ErrorKind.UNAVAILABLE, "cannot connect to " + socket
          + ": netty's epoll transport is unavailable here (" + Epoll.unavailabilityCause() + ")");
    }
    if (!Files.exists(socket)) {
      throw new LaminaException(ErrorKind.UNAVAILABLE, "cannot connect to " + socket + ": no such socket; "
          + notRunningHint());
    }
    try (SocketChannel probe = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
      // reachable
    } catch (IOException e) {
      String why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
      if (why.toLowerCase(Locale.ROOT).contains("permission denied")) {
        throw new LaminaException(ErrorKind.PERMISSION_DENIED, "cannot connect to " + socket
            + ": permission denied (the socket is mode 0660: run as root or as a member of its group)");
      }
      throw new LaminaException(ErrorKind.UNAVAILABLE, "cannot connect to " + socket + ": " + why + "; "
          + notRunningHint());
    }
    return new CriClient(socket);
  }

  private static String notRunningHint() {
    return "is `lamina serve` running? (use --socket or $" + SOCKET_ENV + " for another socket)";
  }

  ImageServiceGrpc.ImageServiceBlockingStub images() {
    return ImageServiceGrpc.newBlockingStub(channel).withDeadlineAfter(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** lamina's own {@code lamina.v1.Containers}, served beside the CRI ImageService. */
  dev.lamina.api.v1.ContainersGrpc.ContainersBlockingStub containers() {
    return dev.lamina.api.v1.ContainersGrpc.newBlockingStub(channel)
        .withDeadlineAfter(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** lamina's own {@code lamina.v1.Pulls}, without deadline: a pull that streams its progress. */
  dev.lamina.api.v1.PullsGrpc.PullsBlockingStub pullsNoDeadline() {
    return dev.lamina.api.v1.PullsGrpc.newBlockingStub(channel);
  }

  /** A stub without deadline, for pulls. */
  ImageServiceGrpc.ImageServiceBlockingStub imagesNoDeadline() {
    return ImageServiceGrpc.newBlockingStub(channel);
  }

  /**
   * Runs one RPC; a gRPC error becomes an error of the matching kind whose message says what was
   * being done, the status code and the server's description.
   */
  <T> T call(String what, Supplier<T> rpc) throws LaminaException {
    try {
      return rpc.get();
    } catch (StatusRuntimeException e) {
      Status s = e.getStatus();
      String description = s.getDescription() == null ? "" : s.getDescription();
      if (s.getCode() == Status.Code.UNAVAILABLE && s.getCause() != null) {
        // the transport, not the daemon, said so
        throw new LaminaException(ErrorKind.UNAVAILABLE, what + ": cannot connect to " + socket + ": " + description
            + "; " + notRunningHint(), e);
      }
      throw new LaminaException(kindOf(s.getCode()), what + ": " + s.getCode() + ": " + description, e);
    }
  }

  static ErrorKind kindOf(Status.Code code) {
    return switch (code) {
      case NOT_FOUND -> ErrorKind.NOT_FOUND;
      case ALREADY_EXISTS -> ErrorKind.ALREADY_EXISTS;
      case INVALID_ARGUMENT, OUT_OF_RANGE -> ErrorKind.INVALID_ARGUMENT;
      case FAILED_PRECONDITION -> ErrorKind.FAILED_PRECONDITION;
      case UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, CANCELLED, ABORTED -> ErrorKind.UNAVAILABLE;
      case UNAUTHENTICATED -> ErrorKind.UNAUTHENTICATED;
      case PERMISSION_DENIED -> ErrorKind.PERMISSION_DENIED;
      case UNIMPLEMENTED -> ErrorKind.NOT_IMPLEMENTED;
      case DATA_LOSS -> ErrorKind.DATA_LOSS;
      default -> ErrorKind.INTERNAL;
    };
  }

  @Override
  public void close() {
    channel.shutdownNow();
    try {
      channel.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    loop.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
  }

  // ---- output in crictl's shapes ----

  /** {@code sha256:0123...} as crictl prints it: without the algorithm, 13 digits. */
  static String truncatedId(String id) {
    String s = id.startsWith("sha256:") ? id.substring("sha256:".length()) : id;
    return s.length() > TRUNCATED_ID ? s.substring(0, TRUNCATED_ID) : s;
  }

  /**
   * Sizes as crictl prints them (go-units' {@code HumanSizeWithPrecision(size, 3)}): decimal
   * units, three significant digits: {@code 999B}, {@code 1.24kB}, {@code 4.27MB}, {@code 1.5GB}.
   */
  static String humanSize(long bytes) {
    String[] units = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
    BigDecimal v = new BigDecimal(Long.toUnsignedString(bytes));
    BigDecimal thousand = BigDecimal.valueOf(1000);
    int i = 0;
    while (v.compareTo(thousand) >= 0 && i < units.length - 1) {
      v = v.divide(thousand);
      i++;
    }
    BigDecimal rounded = v.round(new MathContext(3));
    if (rounded.compareTo(thousand) >= 0 && i < units.length - 1) {
      rounded = rounded.divide(thousand).round(new MathContext(3));
      i++;
    }
    return rounded.stripTrailingZeros().toPlainString() + units[i];
  }

  /**
   * A table as crictl draws it (Go's tabwriter with minwidth 10, padding 3): every column but the
   * last padded to its widest cell plus three spaces.
   */
  static String table(List<List<String>> rows) {
    int columns = rows.stream().mapToInt(List::size).max().orElse(0);
    int[] width = new int[columns];
    for (List<String> row : rows) {
      for (int c = 0; c < row.size() - 1; c++) {
        width[c] = Math.max(width[c], Math.max(10, row.get(c).length() + 3));
      }
    }
    StringBuilder b = new StringBuilder();
    for (List<String> row : rows) {
      for (int c = 0; c < row.size(); c++) {
        String cell = row.get(c);
        b.append(cell);
        if (c < row.size() - 1) {
          b.append(" ".repeat(width[c] - cell.length()));
        }
      }
      b.append('\n');
    }
    return b.toString();
  }

  /** JSON indented by two spaces, {@code "key": value}, as Go's {@code json.MarshalIndent} writes it. */
  static String pretty(JsonNode node) {
    DefaultPrettyPrinter p = new DefaultPrettyPrinter()
        .withSeparators(Separators.createDefaultInstance()
            .withObjectFieldValueSpacing(Separators.Spacing.AFTER)
            .withObjectEmptySeparator("")
            .withArrayEmptySeparator(""));
    p.indentArraysWith(DefaultIndenter.SYSTEM_LINEFEED_INSTANCE.withLinefeed("\n"));
    p.indentObjectsWith(DefaultIndenter.SYSTEM_LINEFEED_INSTANCE.withLinefeed("\n"));
    try {
      return Json.mapper().writer(p).writeValueAsString(node);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Parses JSON text the daemon sent, or gives it back as a string when it is not JSON. */
  static JsonNode parseOrString(String text) {
    if (text.startsWith("{") || text.startsWith("[")) {
      try {
        return Json.mapper().readTree(text);
      } catch (JsonProcessingException e) {
        // fall through: shown as it is
      }
    }
    return JsonNodeFactory.instance.textNode(text);
  }

  /**
   * A message as protobuf's canonical JSON mapping writes it with {@code EmitDefaultValues}, as
   * crictl's {@code -o json} does: lowerCamelCase names, 64-bit integers as strings, default
   * scalars and empty lists written, unset messages left out.
   */
  static ObjectNode protoJson(MessageOrBuilder m) {
    ObjectNode o = JsonNodeFactory.instance.objectNode();
    for (FieldDescriptor f : m.getDescriptorForType().getFields()) {
      boolean message = f.getJavaType() == FieldDescriptor.JavaType.MESSAGE;
      if (f.isMapField()) {
        ObjectNode map = o.putObject(f.getJsonName());
        List<Map.Entry<String, JsonNode>> entries = new ArrayList<>();
        for (Object e : (List<?>) m.getField(f)) {
          MapEntry<?, ?> entry = (MapEntry<?, ?>) e;
          FieldDescriptor valueField = entry.getDescriptorForType().findFieldByName("value");
          entries.add(Map.entry(String.valueOf(entry.getKey()), value(valueField, entry.getValue())));
        }
        entries.sort(Map.Entry.comparingByKey());
        entries.forEach(e -> map.set(e.getKey(), e.getValue()));
      } else if (f.isRepeated()) {
        ArrayNode a = o.putArray(f.getJsonName());
        for (Object v : (List<?>) m.getField(f)) {
          a.add(value(f, v));
        }
      } else if (message && !m.hasField(f)) {
        continue;
      } else {
        o.set(f.getJsonName(), value(f, m.getField(f)));
      }
    }
    return o;
  }

  private static JsonNode value(FieldDescriptor f, Object v) {
    JsonNodeFactory n = JsonNodeFactory.instance;
    return switch (f.getType()) {
      case INT64, SINT64, SFIXED64 -> n.textNode(Long.toString((Long) v));
      case UINT64, FIXED64 -> n.textNode(Long.toUnsignedString((Long) v));
      case UINT32, FIXED32 -> n.numberNode(Integer.toUnsignedLong((Integer) v));
      case INT32, SINT32, SFIXED32 -> n.numberNode((Integer) v);
      case BOOL -> n.booleanNode((Boolean) v);
      case FLOAT -> n.numberNode((Float) v);
      case DOUBLE -> n.numberNode((Double) v);
      case STRING -> n.textNode((String) v);
      case BYTES -> n.textNode(Base64.getEncoder().encodeToString(((ByteString) v).toByteArray()));
      case ENUM -> n.textNode(((com.google.protobuf.Descriptors.EnumValueDescriptor) v).getName());
      case MESSAGE, GROUP -> protoJson((MessageOrBuilder) v);
    };
  }
}
