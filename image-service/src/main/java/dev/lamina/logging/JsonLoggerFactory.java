package dev.lamina.logging;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Instant;
import java.util.Locale;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import org.slf4j.ILoggerFactory;
import org.slf4j.Logger;
import org.slf4j.Marker;
import org.slf4j.event.Level;
import org.slf4j.helpers.LegacyAbstractLogger;
import org.slf4j.helpers.MessageFormatter;

/**
 * Loggers that write {@code {"time","level","logger","thread","msg","error"}} lines. A logger's level
 * is slf4j-simple's: {@code org.slf4j.simpleLogger.log.<name or a prefix>}, else {@code
 * org.slf4j.simpleLogger.defaultLogLevel}, else info.
 */
final class JsonLoggerFactory implements ILoggerFactory {
  static final String PREFIX = "org.slf4j.simpleLogger.log.";
  static final String DEFAULT_LEVEL = "org.slf4j.simpleLogger.defaultLogLevel";

  private final ConcurrentMap<String, Logger> loggers = new ConcurrentHashMap<>();
  private final PrintStream out;
  private final JsonFactory json = new JsonFactory();

  JsonLoggerFactory(PrintStream out) {
    this.out = out;
  }

  @Override
  public Logger getLogger(String name) {
    return loggers.computeIfAbsent(name, n -> new JsonLogger(n, levelOf(n)));
  }

  /** The configured level of {@code name}: its own property, its nearest parent's, the default. */
  static int levelOf(String name) {
    String n = name;
    while (true) {
      String v = System.getProperty(PREFIX + n);
      if (v != null) {
        return parse(v);
      }
      int dot = n.lastIndexOf('.');
      if (dot < 0) {
        break;
      }
      n = n.substring(0, dot);
    }
    return parse(System.getProperty(DEFAULT_LEVEL, "info"));
  }

  /** slf4j's level integers; "off" is above error. */
  static int parse(String level) {
    return switch (level.trim().toLowerCase(Locale.ROOT)) {
      case "trace" -> Level.TRACE.toInt();
      case "debug" -> Level.DEBUG.toInt();
      case "warn" -> Level.WARN.toInt();
      case "error" -> Level.ERROR.toInt();
      case "off" -> Integer.MAX_VALUE;
      default -> Level.INFO.toInt();
    };
  }

  private void write(String logger, Level level, String message, Throwable t) {
    StringWriter line = new StringWriter(128);
    try (JsonGenerator g = json.createGenerator(line)) {
      g.writeStartObject();
      g.writeStringField("time", Instant.now().toString());
      g.writeStringField("level", level.name().toLowerCase(Locale.ROOT));
      g.writeStringField("logger", logger);
      g.writeStringField("thread", Thread.currentThread().getName());
      g.writeStringField("msg", message);
      if (t != null) {
        StringWriter trace = new StringWriter();
        t.printStackTrace(new PrintWriter(trace));
        g.writeStringField("error", trace.toString());
      }
      g.writeEndObject();
    } catch (IOException e) {
      return; // a StringWriter does not fail
    }
    line.append('\n');
    synchronized (out) {
      out.print(line);
      out.flush();
    }
  }

  private final class JsonLogger extends LegacyAbstractLogger {
    private final int level;

    JsonLogger(String name, int level) {
      this.name = name;
      this.level = level;
    }

    private boolean on(Level l) {
      return l.toInt() >= level;
    }

    @Override
    public boolean isTraceEnabled() {
      return on(Level.TRACE);
    }

    @Override
    public boolean isDebugEnabled() {
      return on(Level.DEBUG);
    }

    @Override
    public boolean isInfoEnabled() {
      return on(Level.INFO);
    }

    @Override
    public boolean isWarnEnabled() {
      return on(Level.WARN);
    }

    @Override
    public boolean isErrorEnabled() {
      return on(Level.ERROR);
    }

    @Override
    protected String getFullyQualifiedCallerName() {
      return null;
    }

    @Override
    protected void handleNormalizedLoggingCall(
        Level l, Marker marker, String pattern, Object[] args, Throwable t) {
      if (!on(l)) {
        return;
      }
      write(name, l, MessageFormatter.basicArrayFormat(pattern, args), t);
    }
  }
}
