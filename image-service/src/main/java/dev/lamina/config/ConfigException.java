package dev.lamina.config;

/** A configuration file that cannot be used; the message names the file and the key. */
public final class ConfigException extends Exception {
  public ConfigException(String message) {
    super(message);
  }
}
