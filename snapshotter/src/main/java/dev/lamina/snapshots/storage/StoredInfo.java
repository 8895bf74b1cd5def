package dev.lamina.snapshots.storage;

import dev.lamina.snapshots.Info;
import dev.lamina.snapshots.Usage;

/**
 * One row of metadata: the id that names the snapshot's directory, its info, and the usage
 * recorded at commit ({@link Usage#ZERO} before).
 */
public record StoredInfo(long id, Info info, Usage usage) {}
