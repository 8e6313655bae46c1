import { describe, expect, it } from 'vitest';
import { createRateLimiter, UNLIMITED_ADVERTISED } from '../../../src/simulator/rate-limiter.js';

describe('rate limiter', () => {
  it('allows N per window, then refuses with Retry-After until the window ends', () => {
    let now = 1_000_000;
    const limiter = createRateLimiter(2, 60_000, () => now);
    const first = limiter.take();
    expect(first).toMatchObject({ allowed: true, limit: 2, remaining: 1, resetSeconds: Math.ceil((1_000_000 + 60_000) / 1000) });
    expect(limiter.take()).toMatchObject({ allowed: true, remaining: 0 });
    now += 15_000;
    const refused = limiter.take();
    expect(refused.allowed).toBe(false);
    expect(refused).toMatchObject({ remaining: 0, retryAfterSeconds: 45 });
    now += 45_000;
    expect(limiter.take()).toMatchObject({ allowed: true, remaining: 1 });
  });

  it('peek does not count', () => {
    const limiter = createRateLimiter(1, 60_000, () => 0);
    expect(limiter.peek().remaining).toBe(1);
    expect(limiter.take().allowed).toBe(true);
    expect(limiter.peek().remaining).toBe(0);
  });

  it('retry-after is at least one second', () => {
    let now = 0;
    const limiter = createRateLimiter(1, 60_000, () => now);
    limiter.take();
    now = 59_999;
    const refused = limiter.take();
    expect(refused.allowed === false && refused.retryAfterSeconds).toBe(1);
  });

  it('limit 0 never refuses and advertises a large limit', () => {
    const limiter = createRateLimiter(0, 60_000, () => 0);
    for (let i = 0; i < 1000; i++) expect(limiter.take().allowed).toBe(true);
    expect(limiter.peek()).toMatchObject({ limit: UNLIMITED_ADVERTISED, remaining: UNLIMITED_ADVERTISED - 1000 });
  });
});
