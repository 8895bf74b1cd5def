package dev.lamina.metrics;

import dev.lamina.kube.PodContainer;
import dev.lamina.sizes.ContainerSize;
import io.micrometer.core.instrument.Tags;
import java.util.Optional;

/**
 * A container's sizes with what is known of its pod: the series of one container.
 *
 * @param image the pod's image for the container, else the image whose top layer is the
 *     container's parent, else empty
 */
public record ContainerRow(ContainerSize size, Optional<PodContainer> pod, String image) {
  long sizeRw() {
    return size.sizeRw();
  }

  long sizeRootFs() {
    return size.sizeRootFs();
  }

  long inodes() {
    return size.inodes();
  }

  /** The same label names on every row, empty when unknown. */
  Tags tags() {
    return Tags.of(
        "container_id", size.container().containerId(),
        "namespace", pod.map(PodContainer::namespace).orElse(""),
        "pod", pod.map(PodContainer::pod).orElse(""),
        "container", pod.map(PodContainer::container).orElse(""),
        "image", image);
  }
}
