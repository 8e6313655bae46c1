import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RateBudget, UpstreamError } from '../../../src/upstream/index.js';

const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);

describe('RateBudget', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(T0);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('lets calls through while nothing is known', async () => {
    const budget = new RateBudget();
    await budget.acquire('low');
    expect(budget.snapshot()).toEqual({});
  });

  it('waits for the window reset when remaining is 0', async () => {
    const budget = new RateBudget();
    budget.observe({ limit: 60, remaining: 0, resetAtMs: T0 + 5000 });
    let sent = false;
    const pending = budget.acquire('high').then(() => (sent = true));
    await vi.advanceTimersByTimeAsync(4999);
    expect(sent).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await pending;
    expect(sent).toBe(true);
    expect(budget.snapshot()).toEqual({ limit: 60, remaining: 0, resetAtMs: T0 + 5000 });
  });

  it('counts calls it lets through so a burst cannot overdraw the window', async () => {
    const budget = new RateBudget();
    budget.observe({ limit: 60, remaining: 2, resetAtMs: T0 + 10_000 });
    await budget.acquire();
    await budget.acquire();
    expect(budget.waitMs()).toBe(10_000);
    // A late answer of the same window reporting more cannot hand the spent calls back.
    budget.observe({ limit: 60, remaining: 1, resetAtMs: T0 + 10_000 });
    expect(budget.waitMs()).toBe(10_000);
  });

  it('ignores header sets whose window already ended', () => {
    const budget = new RateBudget();
    budget.observe({ limit: 60, remaining: 0, resetAtMs: T0 + 10_000 });
    budget.observe({ limit: 60, remaining: 50, resetAtMs: T0 - 1000 });
    expect(budget.waitMs()).toBe(10_000);
  });

  it('keeps a reserve for high-priority calls', async () => {
    const budget = new RateBudget({ lowPriorityReserveRatio: 0.1 });
    budget.observe({ limit: 20, remaining: 3, resetAtMs: T0 + 8000 });
    await budget.acquire('low'); // 3 > reserve 2
    expect(budget.waitMs('low')).toBe(8000);
    expect(budget.waitMs('high')).toBe(0);
    await budget.acquire('high');
    await budget.acquire('high');
    expect(budget.waitMs('high')).toBe(8000);
  });

  it("pauses every call until a 429's Retry-After has passed", async () => {
    const budget = new RateBudget();
    budget.blockUntil(T0 + 3000);
    expect(budget.waitMs('high')).toBe(3000);
    let sent = false;
    const pending = budget.acquire().then(() => (sent = true));
    await vi.advanceTimersByTimeAsync(2999);
    expect(sent).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await pending;
  });

  it('assumes a fresh window once the reset passed, until answers say otherwise', async () => {
    const budget = new RateBudget();
    budget.observe({ limit: 2, remaining: 0, resetAtMs: T0 + 1000 });
    await vi.advanceTimersByTimeAsync(1000);
    await budget.acquire();
    await budget.acquire();
    // Two calls already went out into the new window; a third waits for news instead of a 429.
    expect(budget.waitMs()).toBeGreaterThan(0);
    budget.observe({ limit: 2, remaining: 1, resetAtMs: T0 + 61_000 });
    expect(budget.waitMs()).toBe(0);
  });

  it('fails at once when the wait exceeds maxWaitMs', async () => {
    const budget = new RateBudget({ maxWaitMs: 60_000 });
    budget.observe({ limit: 60, remaining: 0, resetAtMs: T0 + 120_000 });
    const err = await budget.acquire().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({ status: 429, kind: 'rate_limited', code: 'RATE_LIMITED', retryAfterMs: 120_000 });
  });

  it('stops waiting on abort', async () => {
    const budget = new RateBudget();
    budget.observe({ limit: 60, remaining: 0, resetAtMs: T0 + 30_000 });
    const controller = new AbortController();
    const pending = budget.acquire('high', controller.signal);
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });
});
