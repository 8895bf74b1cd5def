package dev.lamina.oci;

import dev.lamina.digest.Digest;
import dev.lamina.errdefs.LaminaException;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A normalized image reference, parsed like docker's {@code reference.ParseDockerRef}: {@code busybox}
 * becomes {@code docker.io/library/busybox:latest}, {@code user/app} becomes {@code
 * docker.io/user/app:latest}, {@code localhost:5000/a/b:t} keeps its registry.
 *
 * @param domain the registry as written in references ({@code docker.io}, {@code localhost:5000},
 *     {@code [::1]:5000}); {@link #registryHost()} is where requests go
 * @param path the repository path inside the registry ({@code library/busybox})
 * @param tag the tag, or null; {@code latest} when the input had neither tag nor digest
 * @param digest the digest, or null
 */
public record ImageRef(String domain, String path, String tag, Digest digest) {
  public static final String DOCKER_DOMAIN = "docker.io";
  public static final String DOCKER_REGISTRY_HOST = "registry-1.docker.io";
  private static final String LEGACY_DOCKER_DOMAIN = "index.docker.io";
  private static final String OFFICIAL_PREFIX = "library/";
  private static final int NAME_MAX = 255;

  // distribution/reference's grammar (reference/regexp.go).
  private static final String ALNUM = "[a-z0-9]+";
  private static final String SEPARATOR = "(?:[._]|__|[-]+)";
  private static final String PATH_COMPONENT = ALNUM + "(?:" + SEPARATOR + ALNUM + ")*";
  private static final String DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
  private static final String DOMAIN_NAME = DOMAIN_COMPONENT + "(?:\\." + DOMAIN_COMPONENT + ")*";
  private static final String IPV6 = "\\[[a-fA-F0-9:]+\\]";
  private static final String DOMAIN = "(?:" + DOMAIN_NAME + "|" + IPV6 + ")(?::[0-9]+)?";
  private static final String TAG = "[\\w][\\w.-]{0,127}";
  private static final String DIGEST =
      "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}";
  private static final Pattern DOMAIN_PATTERN = Pattern.compile(DOMAIN);
  private static final Pattern PATH_PATTERN =
      Pattern.compile(PATH_COMPONENT + "(?:/" + PATH_COMPONENT + ")*");
  private static final Pattern TAG_PATTERN = Pattern.compile(TAG);
  private static final Pattern REFERENCE =
      Pattern.compile(
          "(" + DOMAIN + ")/(" + PATH_COMPONENT + "(?:/" + PATH_COMPONENT + ")*)"
              + "(?::(" + TAG + "))?(?:@(" + DIGEST + "))?");
  private static final Pattern HEX64 = Pattern.compile("[a-f0-9]{64}");

  /** Validates the parts; use {@link #parse} for text. */
  public ImageRef {
    if (domain == null || !DOMAIN_PATTERN.matcher(domain).matches()) {
      throw new IllegalArgumentException("invalid registry domain \"" + domain + "\"");
    }
    if (path == null || !PATH_PATTERN.matcher(path).matches()) {
      throw new IllegalArgumentException("invalid repository path \"" + path + "\"");
    }
    if (tag != null && !TAG_PATTERN.matcher(tag).matches()) {
      throw new IllegalArgumentException("invalid tag \"" + tag + "\"");
    }
    if (tag == null && digest == null) {
      tag = "latest";
    }
    if (domain.length() + 1 + path.length() > NAME_MAX) {
      throw new IllegalArgumentException(
          "repository name must not be more than " + NAME_MAX + " characters");
    }
  }

  /**
   * Parses and normalizes a reference the way kubelet and containerd see it.
   *
   * @throws LaminaException INVALID_ARGUMENT naming the input when it is not a valid reference
   */
  public static ImageRef parse(String text) throws LaminaException {
    if (text == null || text.isEmpty()) {
      throw LaminaException.invalidArgument("invalid reference \"\": empty");
    }
    if (HEX64.matcher(text).matches()) {
      throw invalid(text, "cannot specify 64-byte hexadecimal strings as a repository name");
    }
    // splitDockerDomain
    String domain;
    String remainder;
    int slash = text.indexOf('/');
    if (slash == -1
        || (!containsAny(text.substring(0, slash), ".:")
            && !text.substring(0, slash).equals("localhost")
            && text.substring(0, slash).toLowerCase(Locale.ROOT).equals(text.substring(0, slash)))) {
      domain = DOCKER_DOMAIN;
      remainder = text;
    } else {
      domain = text.substring(0, slash);
      remainder = text.substring(slash + 1);
    }
    if (domain.equals(LEGACY_DOCKER_DOMAIN)) {
      domain = DOCKER_DOMAIN;
    }
    if (domain.equals(DOCKER_DOMAIN) && remainder.indexOf('/') == -1) {
      remainder = OFFICIAL_PREFIX + remainder;
    }
    int end = remainder.length();
    int at = remainder.indexOf('@');
    if (at >= 0) {
      end = at;
    }
    int colon = remainder.substring(0, end).indexOf(':');
    String remoteName = colon >= 0 ? remainder.substring(0, colon) : remainder.substring(0, end);
    // One message for a malformed reference (Foo//Bar::x); the lowercase rule is named only for a
    // reference that would be well formed in lower case.
    if (!REFERENCE.matcher(domain + "/" + remainder.toLowerCase(Locale.ROOT)).matches()) {
      throw invalid(text, "invalid reference format");
    }
    if (!remoteName.toLowerCase(Locale.ROOT).equals(remoteName)) {
      throw invalid(text, "invalid reference format: repository name \"" + remoteName + "\" must be lowercase");
    }
    Matcher m = REFERENCE.matcher(domain + "/" + remainder);
    if (!m.matches()) {
      throw invalid(text, "invalid reference format");
    }
    String name = m.group(1) + "/" + m.group(2);
    if (name.length() > NAME_MAX) {
      throw invalid(text, "repository name must not be more than " + NAME_MAX + " characters");
    }
    Digest digest = null;
    if (m.group(4) != null) {
      try {
        digest = Digest.parse(m.group(4));
      } catch (LaminaException e) {
        throw invalid(text, e.getMessage());
      }
    }
    return new ImageRef(m.group(1), m.group(2), m.group(3), digest);
  }

  private static LaminaException invalid(String text, String why) {
    return LaminaException.invalidArgument("invalid reference \"" + text + "\": " + why);
  }

  private static boolean containsAny(String s, String chars) {
    for (int i = 0; i < chars.length(); i++) {
      if (s.indexOf(chars.charAt(i)) >= 0) {
        return true;
      }
    }
    return false;
  }

  /** {@code domain/path}, e.g. {@code docker.io/library/busybox}. */
  public String name() {
    return domain + "/" + path;
  }

  /** What goes after {@code /manifests/}: the digest when there is one, else the tag. */
  public String reference() {
    return digest != null ? digest.toString() : tag;
  }

  /** The registry host requests go to: {@code docker.io} maps to {@code registry-1.docker.io}. */
  public String registryHost() {
    return domain.equals(DOCKER_DOMAIN) ? DOCKER_REGISTRY_HOST : domain;
  }

  /** The host part of the domain, without port or IPv6 brackets. */
  public String hostname() {
    String d = domain;
    if (d.startsWith("[")) {
      return d.substring(1, d.indexOf(']'));
    }
    int colon = d.indexOf(':');
    return colon >= 0 ? d.substring(0, colon) : d;
  }

  /** The token scope for pulling this repository: {@code repository:library/busybox:pull}. */
  public String pullScope() {
    return "repository:" + path + ":pull";
  }

  /** This repository with another digest and no tag. */
  public ImageRef withDigest(Digest d) {
    return new ImageRef(domain, path, null, d);
  }

  /** This repository with another tag and no digest. */
  public ImageRef withTag(String t) {
    return new ImageRef(domain, path, t, null);
  }

  /** The shortest form docker prints: {@code busybox:latest}, {@code user/app:1}, {@code localhost:5000/a@sha256:...}. */
  public String familiar() {
    String p = path;
    String d = domain;
    StringBuilder sb = new StringBuilder();
    if (d.equals(DOCKER_DOMAIN)) {
      if (p.startsWith(OFFICIAL_PREFIX) && p.indexOf('/', OFFICIAL_PREFIX.length()) == -1) {
        p = p.substring(OFFICIAL_PREFIX.length());
      }
    } else {
      sb.append(d).append('/');
    }
    sb.append(p);
    if (tag != null) {
      sb.append(':').append(tag);
    }
    if (digest != null) {
      sb.append('@').append(digest);
    }
    return sb.toString();
  }

  /**
   * The normalized string, as {@code ParseDockerRef} returns it: {@code name@digest} when there is a
   * digest (a tag next to a digest is dropped), else {@code name:tag}.
   */
  @Override
  public String toString() {
    return digest != null ? name() + "@" + digest : name() + ":" + tag;
  }
}
