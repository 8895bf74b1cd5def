package dev.lamina.logging;

import org.slf4j.ILoggerFactory;
import org.slf4j.IMarkerFactory;
import org.slf4j.helpers.BasicMarkerFactory;
import org.slf4j.helpers.NOPMDCAdapter;
import org.slf4j.spi.MDCAdapter;
import org.slf4j.spi.SLF4JServiceProvider;

/**
 * An SLF4J provider that writes one JSON object per line to standard error, for log collectors.
 * It is chosen by the {@code slf4j.provider} system property ({@code serve --log-format json}) and
 * reads the levels slf4j-simple reads, so the same {@code org.slf4j.simpleLogger.*} settings apply
 * to both formats.
 */
public final class JsonLogProvider implements SLF4JServiceProvider {
  private JsonLoggerFactory factory;
  private final IMarkerFactory markers = new BasicMarkerFactory();
  private final MDCAdapter mdc = new NOPMDCAdapter();

  @Override
  public ILoggerFactory getLoggerFactory() {
    return factory;
  }

  @Override
  public IMarkerFactory getMarkerFactory() {
    return markers;
  }

  @Override
  public MDCAdapter getMDCAdapter() {
    return mdc;
  }

  @Override
  public String getRequestedApiVersion() {
    return "2.0.99";
  }

  @Override
  public void initialize() {
    factory = new JsonLoggerFactory(System.err);
  }
}
