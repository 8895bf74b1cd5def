package dev.lamina.metrics;

/**
 * What the store holds, as last counted in the background.
 *
 * @param imageFsBytes bytes used by snapshots and content (CRI's ImageFsInfo)
 * @param imageFsInodes inodes used by snapshots and content
 * @param contentBytes bytes of committed blobs
 * @param contentBlobs committed blobs
 * @param images image records, one per image ID
 */
record StoreStats(long imageFsBytes, long imageFsInodes, long contentBytes, long contentBlobs, long images) {
  /** Before the first count: NaN, which Prometheus shows as no value rather than a false zero. */
  static final StoreStats UNKNOWN = new StoreStats(-1, -1, -1, -1, -1);

  /** A count as a gauge value: NaN while unknown. */
  static double value(long v) {
    return v < 0 ? Double.NaN : v;
  }
}
