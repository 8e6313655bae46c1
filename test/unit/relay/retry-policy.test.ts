import { describe, expect, it } from 'vitest';
import { newDelivery } from '../../../src/runs/delivery.js';
import { afterAttempt } from '../../../src/relay/retry-policy.js';

const policy = { baseDelayMs: 1000, maxDelayMs: 3600_000, maxAgeMs: 24 * 3600_000 };
const fresh = { ...newDelivery('exec_1', 'https://hooks.example/x', 'execution.completed', 0), lease: { owner: 'me', untilMs: 15_000 } };

describe('afterAttempt', () => {
  it('backs off exponentially with jitter: the first retry within 0.5–1.5 s, then doubling', () => {
    const low = afterAttempt(fresh, { kind: 'refused', status: 503 }, 0, policy, () => 0);
    const high = afterAttempt(fresh, { kind: 'refused', status: 503 }, 0, policy, () => 0.999);
    expect([low.delivery.dueAtMs, Math.round(high.delivery.dueAtMs!)]).toEqual([500, 1499]);
    expect(low).toMatchObject({ result: 'retried', delivery: { status: 'pending', attempts: 1, lastStatus: 503 } });
    expect(low.delivery.lease).toBeUndefined();
    const third = afterAttempt({ ...fresh, attempts: 2 }, { kind: 'timeout' }, 0, policy, () => 0.5);
    expect(third.delivery).toMatchObject({ dueAtMs: 4000, lastError: 'timeout' });
  });

  it('waits as long as Retry-After says', () => {
    expect(afterAttempt(fresh, { kind: 'refused', status: 429, retryAfterMs: 120_000 }, 0, policy, () => 0).delivery.dueAtMs).toBe(120_000);
  });

  it('delivers on 2xx, fails at once on 410 and on a blocked address', () => {
    expect(afterAttempt(fresh, { kind: 'delivered', status: 204 }, 7, policy)).toMatchObject({ result: 'delivered', delivery: { status: 'delivered', deliveredAtMs: 7, lastStatus: 204 } });
    expect(afterAttempt(fresh, { kind: 'gone', status: 410 }, 7, policy)).toMatchObject({ result: 'failed', delivery: { status: 'failed', lastStatus: 410 } });
    expect(afterAttempt(fresh, { kind: 'blocked' }, 7, policy)).toMatchObject({ result: 'blocked', delivery: { status: 'failed', lastError: 'blocked' } });
  });

  it('fails once the next attempt would pass the maximum age, counted from when it was queued', () => {
    const old = { ...fresh, attempts: 20 };
    const outcome = afterAttempt(old, { kind: 'network', error: 'ECONNREFUSED' }, 24 * 3600_000 - 10, policy, () => 0.5);
    expect(outcome).toMatchObject({ result: 'failed', delivery: { status: 'failed', lastError: 'ECONNREFUSED', attempts: 21 } });
    const requeued = { ...old, queuedAtMs: 24 * 3600_000 - 10 };
    expect(afterAttempt(requeued, { kind: 'network', error: 'ECONNREFUSED' }, 24 * 3600_000 - 10, policy, () => 0.5).result).toBe('retried');
  });
});
