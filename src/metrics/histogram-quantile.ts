/** One cumulative histogram bucket: how many observations were at most `le`. */
export interface CumulativeBucket {
  le: number;
  count: number;
}

/**
 * The q-quantile (0..1) of a cumulative histogram, estimated the way Prometheus'
 * `histogram_quantile` does: find the bucket holding the rank and interpolate linearly inside
 * it (the first bucket starts at 0). A rank in the `+Inf` bucket answers the highest finite
 * bound, since nothing better is known. Undefined when there are no observations.
 */
export function histogramQuantile(q: number, buckets: readonly CumulativeBucket[]): number | undefined {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (total <= 0 || !(q >= 0 && q <= 1)) return undefined;
  const rank = q * total;
  let lowerLe = 0;
  let lowerCount = 0;
  for (const bucket of sorted) {
    if (bucket.count >= rank && bucket.count > 0) {
      if (!Number.isFinite(bucket.le)) return lowerLe;
      const inBucket = bucket.count - lowerCount;
      if (inBucket <= 0) return bucket.le;
      return lowerLe + (bucket.le - lowerLe) * ((rank - lowerCount) / inBucket);
    }
    lowerLe = bucket.le;
    lowerCount = bucket.count;
  }
  return lowerLe;
}
