package dev.lamina.images;

import dev.lamina.archive.ApplyStats;
import dev.lamina.digest.Digest;
import dev.lamina.oci.Descriptor;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One layer being downloaded and unpacked into an active snapshot, then committed under its chain
 * ID. Pulls that need the same chain ID at the same time share one job: the first starts it, every
 * one of them may commit it (whoever gets there first, under the job's monitor), and the last to
 * let go of a job that was never committed removes its snapshot.
 */
final class LayerJob {
  /** An unpacked, verified layer waiting for its commit. */
  record Unpacked(String key, Path dir, ApplyStats stats, long downloaded, long finishedAt) {}

  final Digest chainId;
  /** The chain ID below, or empty for the base layer. */
  final String parent;
  final Descriptor blob;
  final Digest diffId;
  /** Completes when the layer is unpacked and its blob verified, or with why it failed. */
  final CompletableFuture<Unpacked> unpacked = new CompletableFuture<>();
  /** Completes when the unpack has ended and cleaned up after itself, whatever the outcome. */
  final CompletableFuture<Void> finished = new CompletableFuture<>();
  /** Set by whoever runs the unpack, so that exactly one does. */
  final AtomicBoolean started = new AtomicBoolean();
  /** Nobody wants the layer any more: the unpack stops at its next read and cleans up. */
  volatile boolean abandoned;

  // guarded by the registry of jobs
  int users;

  // written under this monitor
  boolean fixed;
  volatile boolean committed;
  /** Where the committed layer's files are: the unpacked dir, or null when another commit won. */
  Path committedDir;
  /** When the layer's files last changed (System.nanoTime), for deciding whether a flush covers it. */
  long dirtyAt;

  LayerJob(Digest chainId, String parent, Descriptor blob, Digest diffId) {
    this.chainId = chainId;
    this.parent = parent;
    this.blob = blob;
    this.diffId = diffId;
  }

  @Override
  public String toString() {
    return "layer " + blob.digest() + " (chain " + chainId + ")";
  }
}
