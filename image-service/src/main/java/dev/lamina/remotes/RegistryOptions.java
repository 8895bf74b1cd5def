package dev.lamina.remotes;

import dev.lamina.oci.Limits;
import dev.lamina.remotes.hosts.HostsConfig;
import java.time.Clock;
import java.time.Duration;
import java.util.Objects;

/**
 * How a {@link RegistryClient} talks to registries.
 *
 * @param hosts per-registry hosts ({@code hosts.toml}); {@link HostsConfig#none()} for defaults
 * @param connectTimeout to open a connection
 * @param responseTimeout from sending a request to its response headers
 * @param stallTimeout the longest a body may send no bytes before the read fails UNAVAILABLE
 *     (containerd's {@code image_pull_progress_timeout})
 * @param maxAttempts tries of one request on 429, 5xx and dropped connections, the first included
 * @param initialBackoff the wait before the second try; doubles each time, with jitter
 * @param maxBackoff the longest wait between tries
 * @param maxRetryAfter the longest a {@code Retry-After} is honoured; longer ones are cut to this
 * @param maxAuthRefreshes how often a request rejected with 401 gets fresh credentials and is sent
 *     again, beyond the first challenge
 * @param maxManifestBytes the largest manifest or index accepted
 * @param maxBlobBytes the largest blob {@link RegistryClient#readBlob} reads into memory (configs)
 * @param maxResumes how often a blob body cut off mid-way is resumed with a Range request
 * @param userAgent the {@code User-Agent} header
 * @param clock for token expiry
 */
public record RegistryOptions(
    HostsConfig hosts,
    Duration connectTimeout,
    Duration responseTimeout,
    Duration stallTimeout,
    int maxAttempts,
    Duration initialBackoff,
    Duration maxBackoff,
    Duration maxRetryAfter,
    int maxAuthRefreshes,
    int maxManifestBytes,
    int maxBlobBytes,
    int maxResumes,
    String userAgent,
    Clock clock) {
  public RegistryOptions {
    Objects.requireNonNull(hosts, "hosts");
    Objects.requireNonNull(connectTimeout, "connectTimeout");
    Objects.requireNonNull(responseTimeout, "responseTimeout");
    Objects.requireNonNull(stallTimeout, "stallTimeout");
    Objects.requireNonNull(initialBackoff, "initialBackoff");
    Objects.requireNonNull(maxBackoff, "maxBackoff");
    Objects.requireNonNull(maxRetryAfter, "maxRetryAfter");
    Objects.requireNonNull(clock, "clock");
    if (maxAttempts < 1 || maxAuthRefreshes < 0 || maxResumes < 0) {
      throw new IllegalArgumentException("maxAttempts must be >= 1, refreshes and resumes >= 0");
    }
    if (maxManifestBytes < 1 || maxBlobBytes < 1) {
      throw new IllegalArgumentException("size limits must be positive");
    }
    if (stallTimeout.isNegative() || stallTimeout.isZero()) {
      throw new IllegalArgumentException("stallTimeout must be positive");
    }
    userAgent = userAgent == null || userAgent.isBlank() ? "lamina" : userAgent;
  }

  /**
   * 30 s to connect, 60 s to the response headers, 5 min without body bytes, 5 tries with 200 ms to
   * 10 s backoff, {@code Retry-After} up to 60 s, 2 auth refreshes, manifests up to 4 MiB, in-memory
   * blobs up to 32 MiB, 3 resumes.
   */
  public static RegistryOptions defaults() {
    return new RegistryOptions(
        HostsConfig.none(),
        Duration.ofSeconds(30),
        Duration.ofSeconds(60),
        Duration.ofMinutes(5),
        5,
        Duration.ofMillis(200),
        Duration.ofSeconds(10),
        Duration.ofSeconds(60),
        2,
        Limits.MAX_MANIFEST_BYTES,
        Limits.MAX_CONFIG_BYTES,
        3,
        "lamina",
        Clock.systemUTC());
  }

  public RegistryOptions withHosts(HostsConfig h) {
    return new RegistryOptions(h, connectTimeout, responseTimeout, stallTimeout, maxAttempts,
        initialBackoff, maxBackoff, maxRetryAfter, maxAuthRefreshes, maxManifestBytes, maxBlobBytes,
        maxResumes, userAgent, clock);
  }

  public RegistryOptions withTimeouts(Duration connect, Duration response, Duration stall) {
    return new RegistryOptions(hosts, connect, response, stall, maxAttempts, initialBackoff,
        maxBackoff, maxRetryAfter, maxAuthRefreshes, maxManifestBytes, maxBlobBytes, maxResumes,
        userAgent, clock);
  }

  public RegistryOptions withRetries(int attempts, Duration initial, Duration max, Duration retryAfterCap) {
    return new RegistryOptions(hosts, connectTimeout, responseTimeout, stallTimeout, attempts,
        initial, max, retryAfterCap, maxAuthRefreshes, maxManifestBytes, maxBlobBytes, maxResumes,
        userAgent, clock);
  }

  public RegistryOptions withMaxAuthRefreshes(int n) {
    return new RegistryOptions(hosts, connectTimeout, responseTimeout, stallTimeout, maxAttempts,
        initialBackoff, maxBackoff, maxRetryAfter, n, maxManifestBytes, maxBlobBytes, maxResumes,
        userAgent, clock);
  }

  public RegistryOptions withMaxResumes(int n) {
    return new RegistryOptions(hosts, connectTimeout, responseTimeout, stallTimeout, maxAttempts,
        initialBackoff, maxBackoff, maxRetryAfter, maxAuthRefreshes, maxManifestBytes, maxBlobBytes,
        n, userAgent, clock);
  }

  public RegistryOptions withUserAgent(String ua) {
    return new RegistryOptions(hosts, connectTimeout, responseTimeout, stallTimeout, maxAttempts,
        initialBackoff, maxBackoff, maxRetryAfter, maxAuthRefreshes, maxManifestBytes, maxBlobBytes,
        maxResumes, ua, clock);
  }

  public RegistryOptions withClock(Clock c) {
    return new RegistryOptions(hosts, connectTimeout, responseTimeout, stallTimeout, maxAttempts,
        initialBackoff, maxBackoff, maxRetryAfter, maxAuthRefreshes, maxManifestBytes, maxBlobBytes,
        maxResumes, userAgent, c);
  }
}
