package dev.lamina.cli;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;
import picocli.CommandLine;

/** {@code lamina --version}: the project version and the commit it was built from. */
final class VersionProvider implements CommandLine.IVersionProvider {
  static final String RESOURCE = "version.properties";

  @Override
  public String[] getVersion() {
    Properties p = new Properties();
    try (InputStream in = VersionProvider.class.getResourceAsStream(RESOURCE)) {
      if (in != null) {
        p.load(in);
      }
    } catch (IOException e) {
      // reported as unknown below
    }
    return new String[] {line(p.getProperty("version"), p.getProperty("commit"))};
  }

  /** {@code lamina 0.1.0 (commit 0123456789ab)}; an unfiltered or missing value reads unknown. */
  static String line(String version, String commit) {
    return "lamina " + known(version) + " (commit " + known(commit) + ")";
  }

  private static String known(String v) {
    return v == null || v.isBlank() || v.startsWith("${") ? "unknown" : v.trim();
  }
}
