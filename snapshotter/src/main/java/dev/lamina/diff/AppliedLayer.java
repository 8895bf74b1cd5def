package dev.lamina.diff;

import dev.lamina.archive.ApplyStats;
import dev.lamina.digest.Digest;
import java.time.Duration;

/**
 * The result of applying a layer.
 *
 * @param diffId digest of the uncompressed tar stream, trailing bytes included
 * @param size bytes of the uncompressed tar stream
 * @param compressedSize bytes read from the blob as given
 */
public record AppliedLayer(Digest diffId, long size, long compressedSize, ApplyStats stats, Duration elapsed) {}
