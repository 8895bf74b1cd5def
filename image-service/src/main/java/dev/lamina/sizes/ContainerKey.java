package dev.lamina.sizes;

import java.util.Optional;

/**
 * What containerd's key of a container's rootfs snapshot says: {@code <namespace>/<n>/<containerID>},
 * where {@code n} is containerd's counter. Keys of containerd's own unpacks
 * ({@code <namespace>/<n>/extract-<...> <chainID>}) and lamina's pulls are not containers.
 */
public record ContainerKey(String namespace, String containerId) {
  public static Optional<ContainerKey> parse(String key) {
    String[] parts = key.split("/", -1);
    if (parts.length != 3 || parts[0].isEmpty() || parts[2].isEmpty() || !counter(parts[1])) {
      return Optional.empty();
    }
    String id = parts[2];
    if (id.startsWith("extract-") || id.chars().anyMatch(Character::isWhitespace)) {
      return Optional.empty();
    }
    return Optional.of(new ContainerKey(parts[0], id));
  }

  private static boolean counter(String s) {
    return !s.isEmpty() && s.chars().allMatch(c -> c >= '0' && c <= '9');
  }
}
