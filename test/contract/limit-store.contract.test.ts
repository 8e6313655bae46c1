import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LimitStore } from '../../src/limits/limit-store.js';
import { MemoryLimitStore } from '../../src/limits/memory-limit-store.js';
import { PostgresLimitStore } from '../../src/limits/postgres-limit-store.js';
import { RedisLimitStore } from '../../src/limits/redis-limit-store.js';
import { createPostgresPool } from '../../src/postgres/postgres-connection.js';
import { postgresAvailable, TestDatabase } from '../support/postgres.js';
import { deletePrefix, redisAvailable, testRedis, uniquePrefix } from '../support/redis.js';

const redisUp = await redisAvailable();
const postgresUp = await postgresAvailable();

/** Makes limit stores; `peer` gives a second instance's view of the first one's counters, where the driver shares. */
interface LimitFactory {
  make(): Promise<LimitStore>;
  peer?(): Promise<LimitStore>;
  closeAll(): Promise<void>;
}

/** Resolves once the clock has passed `atMs` (the thing waited for is time itself). */
async function passed(atMs: number): Promise<void> {
  while (Date.now() <= atMs) await new Promise((resolve) => setTimeout(resolve, Math.max(1, atMs - Date.now() + 1)));
}

let counter = 0;
const key = (label: string) => `${label}-${++counter}`;

function limitStoreContract(name: string, factory: LimitFactory): void {
  describe(`LimitStore contract: ${name}`, () => {
    afterEach(() => factory.closeAll());

    it('counts hits per key in a window that starts at the first hit', async () => {
      const store = await factory.make();
      const a = key('a');
      const before = Date.now();
      const first = await store.hit(a, 60_000);
      expect(first.hits).toBe(1);
      // The server's clock may differ a little from this one.
      expect(first.resetAtMs).toBeGreaterThanOrEqual(before + 60_000 - 1000);
      expect(first.resetAtMs).toBeLessThanOrEqual(Date.now() + 60_000 + 1000);
      expect((await store.hit(a, 60_000)).hits).toBe(2);
      const third = await store.hit(a, 60_000);
      expect(third).toEqual({ hits: 3, resetAtMs: first.resetAtMs });
      expect((await store.hit(key('other'), 60_000)).hits).toBe(1);
    });

    it('starts a new window at 1 once the window has ended', async () => {
      const store = await factory.make();
      const a = key('expiring');
      // A second long enough for two round trips on a loaded machine.
      await store.hit(a, 1000);
      const second = await store.hit(a, 1000);
      expect(second.hits).toBe(2);
      // Past the window's end on either clock.
      await passed(Math.max(second.resetAtMs, Date.now() + 1000) + 50);
      expect((await store.hit(a, 1000)).hits).toBe(1);
    });

    it('takes a hit back, never below 0, and forgets a key on reset', async () => {
      const store = await factory.make();
      const a = key('undo');
      await store.hit(a, 60_000);
      await store.hit(a, 60_000);
      await store.unhit(a);
      expect((await store.hit(a, 60_000)).hits).toBe(2);
      await store.unhit(a);
      await store.unhit(a);
      await store.unhit(a);
      expect((await store.hit(a, 60_000)).hits).toBe(1);
      await store.unhit(key('never-hit'));
      await store.reset(a);
      expect((await store.hit(a, 60_000)).hits).toBe(1);
    });

    it('hands out a bucket’s tokens, refuses when empty, refills over time, refuses all at capacity 0', async () => {
      const store = await factory.make();
      const b = key('bucket');
      // One token a second: slow next to a round trip, so the takes below see no refill between them.
      const taken = [];
      for (let i = 0; i < 4; i++) taken.push(await store.take(b, 3, 3000));
      expect(taken).toEqual([true, true, true, false]);
      await passed(Date.now() + 1100);
      expect(await store.take(b, 3, 3000)).toBe(true);
      expect(await store.take(b, 3, 3000)).toBe(false);
      expect(await store.take(key('closed'), 0, 60_000)).toBe(false);
      await store.reset(b);
      expect(await store.take(b, 3, 3000)).toBe(true);
    });

    it('counts every one of many concurrent hits and takes, across instances where shared', async () => {
      const first = await factory.make();
      const second = factory.peer ? await factory.peer() : first;
      const a = key('race');
      await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? first : second).hit(a, 60_000)));
      expect((await second.hit(a, 60_000)).hits).toBe(41);
      const b = key('race-bucket');
      const takes = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? first : second).take(b, 10, 3_600_000)));
      expect(takes.filter(Boolean)).toHaveLength(10);
      expect(first.shared).toBe(factory.peer !== undefined);
    });
  });
}

describe('memory', () => {
  const made: LimitStore[] = [];
  limitStoreContract('memory', {
    make: () => {
      const store = new MemoryLimitStore();
      made.push(store);
      return Promise.resolve(store);
    },
    closeAll: async () => {
      for (const store of made.splice(0)) await store.close();
    },
  });
});

describe.skipIf(!redisUp)('redis', () => {
  const prefix = uniquePrefix('limits');
  const made: Array<{ close(): Promise<unknown> }> = [];
  const open = (): Promise<LimitStore> => {
    const redis = testRedis(0);
    made.push({ close: () => redis.quit() });
    return Promise.resolve(new RedisLimitStore({ redis, prefix }));
  };
  limitStoreContract('redis', {
    make: open,
    peer: open,
    closeAll: async () => {
      for (const item of made.splice(0)) await item.close();
      const admin = testRedis(0);
      await deletePrefix(admin, prefix);
      await admin.quit();
    },
  });
});

describe.skipIf(!postgresUp)('postgres', () => {
  let db: TestDatabase | undefined;
  let url: string | undefined;
  const made: LimitStore[] = [];
  beforeAll(async () => {
    db = await TestDatabase.create('limits');
    const migrated = await db.migratedPool('limits', 1);
    await migrated.pool.end();
    url = migrated.url;
  });
  afterAll(() => db?.drop());
  const open = (): Promise<LimitStore> => {
    const store = new PostgresLimitStore({ pool: createPostgresPool(url!, { max: 3 }), ownsPool: true });
    made.push(store);
    return Promise.resolve(store);
  };
  limitStoreContract('postgres', {
    make: open,
    peer: open,
    closeAll: async () => {
      for (const store of made.splice(0)) await store.close();
    },
  });

  it('sweeps ended windows and refilled buckets, and nothing else', async () => {
    const pool = createPostgresPool(url!, { max: 1 });
    const store = new PostgresLimitStore({ pool, ownsPool: true });
    try {
      const [ended, open, bucket] = [key('sweep-ended'), key('sweep-open'), key('sweep-bucket')];
      const { resetAtMs } = await store.hit(ended, 50);
      await store.hit(open, 60_000);
      await store.take(bucket, 100, 50);
      await store.take(key('sweep-draining'), 1, 3_600_000);
      await passed(resetAtMs + 100);
      expect(await store.sweep()).toBeGreaterThanOrEqual(2);
      const left = await pool.query<{ key: string }>(
        "SELECT key FROM rungate_limit_windows WHERE key LIKE 'sweep-%' UNION ALL SELECT key FROM rungate_limit_buckets WHERE key LIKE 'sweep-%'",
      );
      expect(left.rows.map((row) => row.key.replace(/-\d+$/, '')).sort()).toEqual(['sweep-draining', 'sweep-open']);
    } finally {
      await store.close();
    }
  });
});
