import { abortReason, sleep } from '@rungate/client/shared';
import { toSnapshot, type RateLimitInfo } from './rate-limit-headers.js';
import { UPSTREAM_ERROR_CODES, UpstreamError } from './upstream-error.js';
import type { CallPriority, RateBudgetSnapshot } from './upstream.js';

/** Settings of a RateBudget. */
export interface RateBudgetOptions {
  now?: () => number;
  /** Share of the window's limit that `low` calls leave to `high` ones (default 0.1, rounded down). */
  lowPriorityReserveRatio?: number;
  /** A wait longer than this fails at once with a `rate_limited` error instead of sleeping. */
  maxWaitMs?: number;
}

/**
 * After a window ends with no fresh headers yet, the budget assumes a full window that lasts this
 * long: answers to the calls it lets through correct it at once, and if none ever carry headers
 * the budget still lets `limit` calls through per second instead of blocking for good.
 */
const ROLLOVER_PROBE_MS = 1000;

/**
 * The request budget shared by every call of one client, fed by the `X-RateLimit-*` headers of
 * each answer and by `Retry-After` on 429s. When the window is spent (or upstream asked for a
 * pause) new calls wait for the reset instead of collecting 429s. Calls let through are counted
 * locally until the next answer reports the real figure, so a burst cannot overdraw a window.
 */
export class RateBudget {
  readonly #now: () => number;
  readonly #reserveRatio: number;
  readonly #maxWaitMs: number;
  #reported: RateBudgetSnapshot = {};
  #limit: number | undefined;
  #remaining: number | undefined;
  #resetAtMs: number | undefined;
  #blockedUntilMs = 0;

  constructor(options: RateBudgetOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#reserveRatio = options.lowPriorityReserveRatio ?? 0.1;
    this.#maxWaitMs = options.maxWaitMs ?? Number.POSITIVE_INFINITY;
  }

  /** Takes in one answer's headers. Sets whose window already ended (late answers) are ignored. */
  observe(info: RateLimitInfo | undefined): void {
    if (info === undefined) return;
    this.#reported = toSnapshot(info);
    if (info.resetAtMs <= this.#now()) return;
    // Within one window the count only falls; answers can arrive out of order, and calls sent
    // after this answer was made are already deducted locally, so keep the lower figure.
    const sameWindow = info.resetAtMs === this.#resetAtMs && this.#remaining !== undefined;
    this.#limit = info.limit;
    this.#remaining = sameWindow ? Math.min(this.#remaining ?? info.remaining, info.remaining) : info.remaining;
    this.#resetAtMs = info.resetAtMs;
  }

  /** Upstream asked every caller to pause until `untilMs` (a 429's Retry-After). */
  blockUntil(untilMs: number): void {
    this.#blockedUntilMs = Math.max(this.#blockedUntilMs, untilMs);
  }

  /** The latest figures upstream reported. */
  snapshot(): RateBudgetSnapshot {
    return { ...this.#reported };
  }

  /** How long a call of this priority must wait before it may be sent; 0 = now. */
  waitMs(priority: CallPriority = 'high'): number {
    const now = this.#now();
    if (this.#blockedUntilMs > now) return this.#blockedUntilMs - now;
    if (this.#limit === undefined || this.#remaining === undefined || this.#resetAtMs === undefined) return 0;
    if (this.#resetAtMs <= now) {
      this.#remaining = this.#limit;
      this.#resetAtMs = now + ROLLOVER_PROBE_MS;
    }
    const floor = priority === 'low' ? Math.floor(this.#limit * this.#reserveRatio) : 0;
    return this.#remaining > floor ? 0 : this.#resetAtMs - now;
  }

  /**
   * Resolves when a call may be sent, and counts it. Rejects with the signal's reason on abort,
   * or with a `rate_limited` UpstreamError (carrying the latest reported `X-RateLimit-*` set)
   * when the wait would exceed `maxWaitMs` (the budget's own unless the call gives a shorter one).
   */
  async acquire(priority: CallPriority = 'high', signal?: AbortSignal, maxWaitMs = this.#maxWaitMs): Promise<void> {
    for (;;) {
      if (signal?.aborted) throw abortReason(signal);
      const wait = this.waitMs(priority);
      if (wait <= 0) {
        if (this.#remaining !== undefined) this.#remaining = Math.max(0, this.#remaining - 1);
        return;
      }
      if (wait > Math.min(maxWaitMs, this.#maxWaitMs)) {
        const reported = this.#reported;
        throw new UpstreamError({
          status: 429,
          code: UPSTREAM_ERROR_CODES.rateLimited,
          message: `Upstream rate limit exhausted for another ${Math.ceil(wait / 1000)} s`,
          retryAfterMs: wait,
          ...(reported.limit !== undefined && reported.remaining !== undefined && reported.resetAtMs !== undefined
            ? { rateLimit: { limit: reported.limit, remaining: reported.remaining, resetAtMs: reported.resetAtMs } }
            : {}),
        });
      }
      await sleep(wait, signal);
    }
  }
}
