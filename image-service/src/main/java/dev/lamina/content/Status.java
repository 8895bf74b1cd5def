package dev.lamina.content;

import dev.lamina.digest.Digest;
import java.time.Instant;

/**
 * The state of one ingest (an unfinished write).
 *
 * @param ref the name the writer was opened with
 * @param offset bytes written so far; a resumed writer continues here
 * @param total expected size, or -1 when unknown
 * @param expected expected digest, or null when unknown
 */
public record Status(String ref, long offset, long total, Digest expected, Instant startedAt, Instant updatedAt) {}
