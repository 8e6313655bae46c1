import { describe, expect, it } from 'vitest';
import { ConcurrencyLimiter } from '../../../src/upstream/index.js';

describe('ConcurrencyLimiter', () => {
  it('holds at most max slots and serves waiters first come, first served', async () => {
    const limiter = new ConcurrencyLimiter(2);
    const a = await limiter.acquire();
    const b = await limiter.acquire();
    const order: string[] = [];
    const c = limiter.acquire().then((release) => (order.push('c'), release));
    const d = limiter.acquire().then((release) => (order.push('d'), release));
    await Promise.resolve();
    expect(limiter.active).toBe(2);
    expect(limiter.waiting).toBe(2);
    a();
    a(); // a second release must not free another slot
    const releaseC = await c;
    expect(order).toEqual(['c']);
    expect(limiter.active).toBe(2);
    b();
    const releaseD = await d;
    expect(order).toEqual(['c', 'd']);
    releaseC();
    releaseD();
    expect(limiter.active).toBe(0);
  });

  it('drops an aborted waiter from the queue', async () => {
    const limiter = new ConcurrencyLimiter(1);
    const release = await limiter.acquire();
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    expect(limiter.waiting).toBe(0);
    release();
    expect(limiter.active).toBe(0);
  });

  it('rejects waiters and later acquires on close', async () => {
    const limiter = new ConcurrencyLimiter(1);
    await limiter.acquire();
    const waiting = limiter.acquire();
    const reason = new Error('closed');
    limiter.close(reason);
    await expect(waiting).rejects.toBe(reason);
    await expect(limiter.acquire()).rejects.toBe(reason);
  });

  it('refuses a non-positive size', () => {
    expect(() => new ConcurrencyLimiter(0)).toThrow(RangeError);
  });
});
