/** The `X-RateLimit-*` numbers of one answer. */
export interface RateLimitState {
  limit: number;
  remaining: number;
  /** Unix seconds at which the current window ends. */
  resetSeconds: number;
}

/** One request's verdict: allowed, or refused with the seconds to wait. */
export type RateDecision = (RateLimitState & { allowed: true }) | (RateLimitState & { allowed: false; retryAfterSeconds: number });

/** Fixed-window request counter: N requests per window, then refusals until the window ends. */
export interface RateLimiter {
  /** Counts one request and says whether it may go on. */
  take(): RateDecision;
  /** The current numbers without counting a request (for answers that are not rate limited). */
  peek(): RateLimitState;
}

/** What an unlimited simulator advertises, so clients that read the headers never hold back. */
export const UNLIMITED_ADVERTISED = 1_000_000;

/**
 * A fixed window that opens at the first request after the previous one closed, rather than on
 * wall-clock minute boundaries: "N requests then 429" then holds regardless of when a test starts.
 * `limit` 0 means no limit (a large limit is advertised instead).
 */
export function createRateLimiter(limit: number, windowMs = 60_000, now: () => number = Date.now): RateLimiter {
  const advertised = limit > 0 ? limit : UNLIMITED_ADVERTISED;
  let windowStart = Number.NEGATIVE_INFINITY;
  let used = 0;
  const roll = (at: number): void => {
    if (at >= windowStart + windowMs) {
      windowStart = at;
      used = 0;
    }
  };
  const state = (at: number): RateLimitState => {
    // Before the first request no window is open; advertise the one a request would open now.
    const end = Number.isFinite(windowStart) && at < windowStart + windowMs ? windowStart + windowMs : at + windowMs;
    return { limit: advertised, remaining: Math.max(0, advertised - used), resetSeconds: Math.ceil(end / 1000) };
  };
  return {
    take() {
      const at = now();
      roll(at);
      if (limit > 0 && used >= limit) {
        const retryAfterSeconds = Math.max(1, Math.ceil((windowStart + windowMs - at) / 1000));
        return { ...state(at), allowed: false, retryAfterSeconds };
      }
      used++;
      return { ...state(at), allowed: true };
    },
    peek: () => state(now()),
  };
}
