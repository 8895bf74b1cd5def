package dev.lamina.images;

import java.nio.file.Path;
import java.time.Instant;

/**
 * What CRI's ImageFsInfo reports for the image filesystem.
 *
 * @param mountpoint the directory that holds lamina's content and snapshots
 */
public record FilesystemUsage(Path mountpoint, long usedBytes, long inodesUsed, Instant timestamp) {}
