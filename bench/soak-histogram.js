// A latency histogram with buckets 2 % wide (log scale, 0.01 ms to ~100 s): small enough to send
// over IPC every few seconds and to merge per minute, precise enough for p50/p99.
const GROWTH = 1.02;
const MIN_MS = 0.01;
const LOG_GROWTH = Math.log(GROWTH);

const bucketOf = (ms) => (ms <= MIN_MS ? 0 : Math.floor(Math.log(ms / MIN_MS) / LOG_GROWTH) + 1);
/** A bucket's upper edge, which quantiles report (at most 2 % high). */
const upperEdgeOf = (bucket) => MIN_MS * GROWTH ** bucket;

export class LatencyHistogram {
  constructor(counts = {}) {
    /** bucket → count, sparse. */
    this.counts = new Map(Object.entries(counts).map(([bucket, count]) => [Number(bucket), count]));
    this.total = [...this.counts.values()].reduce((sum, count) => sum + count, 0);
  }

  record(ms) {
    const bucket = bucketOf(ms);
    this.counts.set(bucket, (this.counts.get(bucket) ?? 0) + 1);
    this.total++;
  }

  merge(other) {
    for (const [bucket, count] of other.counts) this.counts.set(bucket, (this.counts.get(bucket) ?? 0) + count);
    this.total += other.total;
    return this;
  }

  /** The q-quantile (0..1) in ms; NaN when empty. */
  quantile(q) {
    if (this.total === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (const bucket of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(bucket);
      if (seen >= rank) return upperEdgeOf(bucket);
    }
    return NaN;
  }

  toJSON() {
    return Object.fromEntries(this.counts);
  }
}
