package dev.lamina.kube;

import java.util.Optional;

/** Which pod runs a container. */
public interface Pods {
  Pods NONE = id -> Optional.empty();

  /** @param containerId the runtime's container ID, without {@code containerd://} */
  Optional<PodContainer> container(String containerId);
}
