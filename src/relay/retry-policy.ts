import type { Delivery } from '../runs/delivery.js';
import type { AttemptOutcome } from './delivery-sender.js';

/** How deliveries are retried. */
export interface RetryPolicy {
  /** The first retry comes after about this long (×0.5 to ×1.5, jitter); each later one doubles. */
  baseDelayMs: number;
  /** No wait between attempts is longer than this (a receiver's Retry-After included). */
  maxDelayMs: number;
  /** A delivery still not through this long after it was queued is failed. */
  maxAgeMs: number;
}

/** The metric result of one attempt (contract section 8). */
export type AttemptResult = 'delivered' | 'retried' | 'failed' | 'blocked';

/**
 * The delivery after one attempt, as a pure function: delivered on 2xx; failed at once on 410 or
 * a blocked address; otherwise pending again after exponential backoff with jitter — or after the
 * receiver's Retry-After when it gave one — unless that would pass the maximum age.
 */
export function afterAttempt(
  delivery: Delivery,
  outcome: AttemptOutcome,
  nowMs: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): { delivery: Delivery; result: AttemptResult } {
  const attempts = delivery.attempts + 1;
  const { lease: _lease, dueAtMs: _due, lastStatus: _status, lastError: _error, ...rest } = delivery;
  const base: Delivery = { ...rest, attempts, lastAttemptAtMs: nowMs };
  switch (outcome.kind) {
    case 'delivered':
      return { delivery: { ...base, status: 'delivered', lastStatus: outcome.status, deliveredAtMs: nowMs }, result: 'delivered' };
    case 'gone':
      return { delivery: { ...base, status: 'failed', lastStatus: outcome.status }, result: 'failed' };
    case 'blocked':
      return { delivery: { ...base, status: 'failed', lastError: 'blocked' }, result: 'blocked' };
    default:
      break;
  }
  const noted: Delivery =
    outcome.kind === 'refused' ? { ...base, lastStatus: outcome.status } : { ...base, lastError: outcome.kind === 'timeout' ? 'timeout' : outcome.error };
  const backoffMs = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempts - 1)) * (0.5 + random());
  const waitMs = Math.min(policy.maxDelayMs, outcome.kind === 'refused' && outcome.retryAfterMs !== undefined ? outcome.retryAfterMs : backoffMs);
  const dueAtMs = Math.round(nowMs + waitMs);
  if (dueAtMs > delivery.queuedAtMs + policy.maxAgeMs) {
    return { delivery: { ...noted, status: 'failed', lastError: noted.lastError ?? 'max age reached' }, result: 'failed' };
  }
  return { delivery: { ...noted, status: 'pending', dueAtMs }, result: 'retried' };
}
