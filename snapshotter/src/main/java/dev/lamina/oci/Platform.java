package dev.lamina.oci;

import dev.lamina.errdefs.LaminaException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * An OCI platform. The canonical constructor keeps what it is given; {@link #normalize()} gives the
 * form containerd compares: {@code x86_64} is {@code amd64}, {@code aarch64} is {@code arm64} (whose
 * variant defaults to {@code v8}), {@code arm} defaults to {@code v7}, {@code armhf} is {@code arm/v7}.
 *
 * @param os e.g. {@code linux}
 * @param architecture e.g. {@code amd64}
 * @param variant e.g. {@code v8}; empty when none
 * @param osVersion e.g. {@code 10.0.17763.1879} (Windows); empty when none
 */
public record Platform(String os, String architecture, String variant, String osVersion) {
  public Platform {
    os = os == null ? "" : os;
    architecture = architecture == null ? "" : architecture;
    variant = variant == null ? "" : variant;
    osVersion = osVersion == null ? "" : osVersion;
  }

  public static Platform of(String os, String architecture) {
    return new Platform(os, architecture, "", "");
  }

  public static Platform of(String os, String architecture, String variant) {
    return new Platform(os, architecture, variant, "");
  }

  /** Parses {@code os/arch[/variant]} (as {@code ctr --platform} and {@code docker --platform} do). */
  public static Platform parse(String text) throws LaminaException {
    String[] parts = text == null ? new String[0] : text.split("/", -1);
    if (parts.length < 2 || parts.length > 3) {
      throw LaminaException.invalidArgument(
          "invalid platform \"" + text + "\": want os/architecture[/variant]");
    }
    for (String p : parts) {
      if (p.isEmpty() || !p.matches("[A-Za-z0-9_.-]+")) {
        throw LaminaException.invalidArgument("invalid platform \"" + text + "\"");
      }
    }
    return new Platform(parts[0], parts[1], parts.length == 3 ? parts[2] : "", "").normalize();
  }

  /** The platform of this JVM's node, normalized: {@code linux/amd64}, {@code linux/arm64/v8} ... */
  public static Platform current() {
    String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
    if (os.startsWith("windows")) {
      os = "windows";
    } else if (os.startsWith("mac")) {
      os = "darwin";
    } else if (os.startsWith("linux")) {
      os = "linux";
    }
    String arch = System.getProperty("os.arch", "");
    return new Platform(os, arch, "", "").normalize();
  }

  /** containerd's {@code platforms.Normalize}, with arm64's default variant spelled {@code v8}. */
  public Platform normalize() {
    String o = os.toLowerCase(Locale.ROOT);
    if (o.equals("macos")) {
      o = "darwin";
    }
    String a = architecture.toLowerCase(Locale.ROOT);
    String v = variant.toLowerCase(Locale.ROOT);
    switch (a) {
      case "i386" -> {
        a = "386";
        v = "";
      }
      case "x86_64", "x86-64", "amd64" -> {
        a = "amd64";
        if (v.equals("v1")) {
          v = "";
        }
      }
      case "aarch64", "arm64" -> {
        a = "arm64";
        switch (v) {
          case "", "8", "v8", "v8.0" -> v = "v8";
          case "9", "9.0", "v9.0" -> v = "v9";
          default -> { }
        }
      }
      case "armhf" -> {
        a = "arm";
        v = "v7";
      }
      case "armel" -> {
        a = "arm";
        v = "v6";
      }
      case "arm" -> {
        switch (v) {
          case "", "7" -> v = "v7";
          case "5", "6", "8" -> v = "v" + v;
          default -> { }
        }
      }
      default -> { }
    }
    return new Platform(o, a, v, osVersion);
  }

  /**
   * Matches what a node of this platform runs, best first, like containerd's {@code
   * platforms.Only}: the exact platform, then older variants of the same architecture ({@code
   * arm/v7} runs {@code arm/v6}), and for {@code arm64} the 32-bit {@code arm} variants.
   */
  public Matcher matcher() {
    Platform p = normalize();
    List<Platform> vector = new ArrayList<>();
    vector.add(p);
    int n = variantNumber(p.variant);
    switch (p.architecture) {
      case "amd64" -> {
        for (int i = n - 1; i >= 2; i--) {
          vector.add(new Platform(p.os, "amd64", "v" + i, ""));
        }
        if (n >= 2) {
          vector.add(new Platform(p.os, "amd64", "", ""));
        }
      }
      case "arm64" -> {
        if (n > 8 || (n == 8 && !p.variant.equals("v8"))) {
          vector.add(new Platform(p.os, "arm64", "v8", ""));
        }
        for (int i = 8; i >= 5; i--) {
          vector.add(new Platform(p.os, "arm", "v" + i, ""));
        }
      }
      case "arm" -> {
        for (int i = Math.min(n, 9) - 1; i >= 5; i--) {
          vector.add(new Platform(p.os, "arm", "v" + i, ""));
        }
      }
      default -> { }
    }
    List<Platform> ordered = List.copyOf(vector);
    return new Matcher() {
      @Override
      public int rank(Platform candidate) {
        if (candidate == null) {
          return -1;
        }
        Platform c = candidate.normalize();
        for (int i = 0; i < ordered.size(); i++) {
          Platform want = ordered.get(i);
          if (want.os.equals(c.os)
              && want.architecture.equals(c.architecture)
              && want.variant.equals(c.variant)) {
            return i;
          }
        }
        return -1;
      }

      @Override
      public String toString() {
        return p.toString();
      }
    };
  }

  private static int variantNumber(String v) {
    if (!v.startsWith("v")) {
      return 0;
    }
    int end = 1;
    while (end < v.length() && Character.isDigit(v.charAt(end))) {
      end++;
    }
    return end == 1 ? 0 : Integer.parseInt(v.substring(1, end));
  }

  /** {@code os/architecture[/variant]}. */
  @Override
  public String toString() {
    return os + "/" + architecture + (variant.isEmpty() ? "" : "/" + variant);
  }

  /** Decides which platforms a node runs, and which it prefers. */
  public interface Matcher {
    /** 0 for the best match, higher for worse ones, -1 when the node cannot run it. */
    int rank(Platform candidate);

    default boolean matches(Platform candidate) {
      return rank(candidate) >= 0;
    }
  }
}
