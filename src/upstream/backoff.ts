/** The retry schedule's two knobs. */
export interface BackoffPolicy {
  baseDelayMs: number;
  maxDelayMs: number;
}

/**
 * "Full jitter" (AWS architecture blog): a uniform delay in [0, min(max, base·2^attempt)), where
 * `attempt` counts the failed attempts before this one from 0. Spreading retries over the whole
 * range keeps clients that failed together from retrying together.
 */
export function fullJitterDelay(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}
