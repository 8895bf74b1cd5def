package dev.lamina.remotes;

import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * One registry API endpoint, as jib's {@code RegistryEndpointProvider}: what to send and how to read
 * a successful answer. {@link RegistryEndpointCaller} does everything else (auth, retries, errors).
 *
 * @param <T> what a successful response becomes
 */
interface RegistryEndpoint<T> {
  /** {@code GET} or {@code HEAD}. */
  String method();

  /** The path below the host's API root, with any query: {@code library/busybox/manifests/latest}. */
  String route();

  /** Extra request headers ({@code Accept}, {@code Range}). */
  Map<String, List<String>> headers();

  /** Reads a 2xx response. It owns the response: close it, or hand its body on. */
  T handleResponse(Response response) throws IOException;

  /** What the call does, for messages: {@code resolve docker.io/library/busybox:latest}. */
  String description();

  /** The message of a 404: {@code manifest unknown: docker.io/library/busybox:latest}. */
  String notFound();
}
