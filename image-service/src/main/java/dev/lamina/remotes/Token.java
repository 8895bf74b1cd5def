package dev.lamina.remotes;

import java.time.Instant;

/**
 * A bearer token from a token server; {@link #toString()} never shows it.
 *
 * @param value the token
 * @param expiresAt when to stop using it
 * @param refreshToken an OAuth2 refresh token the server returned, or empty
 */
record Token(String value, Instant expiresAt, String refreshToken) {
  boolean usableAt(Instant now) {
    return now.isBefore(expiresAt);
  }

  @Override
  public String toString() {
    return "Token[expiresAt=" + expiresAt + "]";
  }
}
