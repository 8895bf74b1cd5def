package dev.lamina.digest;

import dev.lamina.errdefs.LaminaException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;

/** A content digest such as {@code sha256:e3b0...}; only sha256 and sha512 are accepted. */
public record Digest(String algorithm, String hex) {
  private static final Pattern SHA256 = Pattern.compile("[a-f0-9]{64}");
  private static final Pattern SHA512 = Pattern.compile("[a-f0-9]{128}");

  public Digest {
    Pattern p = switch (algorithm) {
      case "sha256" -> SHA256;
      case "sha512" -> SHA512;
      default -> throw new IllegalArgumentException("unsupported digest algorithm: " + algorithm);
    };
    if (!p.matcher(hex).matches()) {
      throw new IllegalArgumentException("invalid " + algorithm + " digest: " + hex);
    }
  }

  /** Parses {@code algorithm:hex}, failing with INVALID_ARGUMENT that names the text. */
  public static Digest parse(String text) throws LaminaException {
    int colon = text == null ? -1 : text.indexOf(':');
    if (colon <= 0) {
      throw LaminaException.invalidArgument("invalid digest \"" + text + "\": want algorithm:hex");
    }
    try {
      return new Digest(text.substring(0, colon), text.substring(colon + 1));
    } catch (IllegalArgumentException e) {
      throw LaminaException.invalidArgument("invalid digest \"" + text + "\": " + e.getMessage());
    }
  }

  public static Digest sha256(byte[] hash) {
    return new Digest("sha256", HexFormat.of().formatHex(hash));
  }

  public static Digest sha256Of(byte[] data) {
    return sha256(newSha256().digest(data));
  }

  public static MessageDigest newSha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JDK lacks SHA-256", e);
    }
  }

  public MessageDigest newMessageDigest() {
    try {
      return MessageDigest.getInstance(algorithm.equals("sha256") ? "SHA-256" : "SHA-512");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("the JDK lacks " + algorithm, e);
    }
  }

  @Override
  public String toString() {
    return algorithm + ":" + hex;
  }
}
