package dev.lamina.sizes;

import java.time.Instant;

/**
 * One container's root filesystem, as last measured.
 *
 * @param key the active snapshot's key
 * @param sizeRw allocated bytes of the writable layer (its upper dir), hard links once
 * @param inodes inodes of the writable layer
 * @param sizeRootFs {@code sizeRw} plus the recorded usage of every committed snapshot under it
 * @param parent the committed snapshot under the writable layer (the image's top layer), empty for none
 */
public record ContainerSize(String key, ContainerKey container, long sizeRw, long inodes, long sizeRootFs,
    String parent, Instant measured) {}
