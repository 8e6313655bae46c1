/** A retry schedule's two knobs, in ms. */
export interface BackoffPolicy {
  /** The ceiling of the first delay. */
  baseDelayMs: number;
  /** The largest delay. */
  maxDelayMs: number;
}

/**
 * "Full jitter" (AWS architecture blog): a uniform delay in [0, min(max, base·2^attempt)), where
 * `attempt` counts the failed attempts before this one from 0. Spreading retries over the whole
 * range keeps clients that failed together (a crowd that lost the same gateway, a gateway whose
 * upstream hiccuped) from retrying together.
 */
export function fullJitterDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  // The exponent is capped so that a long outage cannot overflow the ceiling to Infinity.
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** The client's reconnect and retry pacing (`createClient({ reconnect })`). */
export interface BackoffOptions {
  /** The ceiling of the first delay (default 250 ms). */
  initialDelayMs?: number;
  /** The largest delay (default 15000 ms). */
  maxDelayMs?: number;
}

/** The client's delay before attempt `attempt` (0-based): full jitter with the client's defaults. */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  return fullJitterDelay(attempt, { baseDelayMs: options.initialDelayMs ?? 250, maxDelayMs: options.maxDelayMs ?? 15_000 }, random);
}
