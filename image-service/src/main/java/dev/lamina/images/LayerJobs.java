package dev.lamina.images;

import dev.lamina.digest.Digest;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The layer jobs in flight, by chain ID, shared between the pulls that need a layer at the same
 * time. Its monitor guards {@link LayerJob#users} and orders an unpack's end against the release
 * of its last holder, so that an unpack nobody wants any more never leaves its snapshot behind.
 */
final class LayerJobs {
  private final Map<Digest, LayerJob> jobs = new HashMap<>();
  private final Extractions extractions;

  LayerJobs(Extractions extractions) {
    this.extractions = extractions;
  }

  /** The job in flight for {@code fresh}'s chain ID, or {@code fresh} itself; held until {@link #release}. */
  LayerJob hold(LayerJob fresh) {
    synchronized (jobs) {
      LayerJob shared = jobs.putIfAbsent(fresh.chainId, fresh);
      if (shared == null) {
        shared = fresh;
      }
      shared.users++;
      return shared;
    }
  }

  /** Completes the job's unpack with {@code u}, unless nobody holds it any more: then false. */
  boolean publish(LayerJob job, LayerJob.Unpacked u) {
    synchronized (jobs) {
      if (job.abandoned) {
        return false;
      }
      job.unpacked.complete(u);
      return true;
    }
  }

  /** Gives up a pull's hold on its jobs; the last holder of an uncommitted job cleans it up. */
  void release(List<LayerJob> mine) {
    for (LayerJob job : mine) {
      LayerJob.Unpacked orphan = null;
      synchronized (jobs) {
        if (--job.users > 0) {
          continue;
        }
        jobs.remove(job.chainId, job);
        // Nobody else holds the job, so nobody is committing it now.
        if (!job.committed) {
          job.abandoned = true;
          if (job.unpacked.isDone() && !job.unpacked.isCompletedExceptionally()) {
            orphan = job.unpacked.getNow(null);
          }
        }
      }
      if (orphan != null && orphan.key() != null) {
        extractions.removeQuietly(orphan.key());
      }
    }
  }
}
