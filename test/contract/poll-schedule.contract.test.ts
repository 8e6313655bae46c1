import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HeapPollSchedule } from '../../src/polling/heap-poll-schedule.js';
import type { PollSchedule } from '../../src/polling/poll-schedule.js';
import { PostgresPollSchedule } from '../../src/polling/postgres-poll-schedule.js';
import { createPostgresPool } from '../../src/postgres/postgres-connection.js';
import { postgresAvailable, TestDatabase } from '../support/postgres.js';
import { RedisPollSchedule } from '../../src/polling/redis-poll-schedule.js';
import { deletePrefix, redisAvailable, testRedis, uniquePrefix } from '../support/redis.js';

const redisUp = await redisAvailable();
const postgresUp = await postgresAvailable();

/** Makes schedules; `shared` ones see the same runs (cluster peers), when the driver can share. */
interface ScheduleFactory {
  make(): Promise<PollSchedule>;
  /** A second taker on the first one's schedule, or undefined for single-instance drivers. */
  peer?(): Promise<PollSchedule>;
  closeAll(): Promise<void>;
}

const T = 1_700_000_000_000;

function pollScheduleContract(name: string, factory: ScheduleFactory): void {
  describe(`PollSchedule contract: ${name}`, () => {
    afterEach(() => factory.closeAll());

    it('addMany schedules many at once, only what is not scheduled yet', async () => {
      const s = await factory.make();
      await s.add('a', T + 100);
      await s.addMany([
        { id: 'a', dueAtMs: T + 1 },
        { id: 'b', dueAtMs: T + 20 },
        { id: 'c', dueAtMs: T + 30 },
        { id: 'b', dueAtMs: T + 5 },
      ]);
      await s.addMany([]);
      expect(await s.size()).toBe(3);
      expect(await s.takeDue(T + 1000, 10, 60_000)).toEqual(['b', 'c', 'a']);
    });

    it('add schedules only what is not scheduled yet; set moves; remove forgets', async () => {
      const s = await factory.make();
      await s.add('a', T + 100);
      await s.add('a', T + 5);
      expect(await s.nextDueAtMs()).toBe(T + 100);
      expect(await s.size()).toBe(1);
      await s.set('a', T + 50);
      expect(await s.nextDueAtMs()).toBe(T + 50);
      await s.set('b', T + 10);
      expect(await s.nextDueAtMs()).toBe(T + 10);
      expect(await s.size()).toBe(2);
      await s.remove('b');
      await s.remove('nobody');
      expect(await s.size()).toBe(1);
      expect(await s.nextDueAtMs()).toBe(T + 50);
      await s.remove('a');
      expect(await s.size()).toBe(0);
      expect(await s.nextDueAtMs()).toBeUndefined();
      expect(await s.takeDue(T + 1e9, 10, 1000)).toEqual([]);
    });

    it('takes due runs earliest first, at most limit, and none that are not due', async () => {
      const s = await factory.make();
      await s.add('late', T + 300);
      await s.add('first', T + 100);
      await s.add('second', T + 200);
      await s.add('future', T + 10_000);
      expect(await s.takeDue(T + 50, 10, 1000)).toEqual([]);
      expect(await s.takeDue(T + 300, 2, 1000)).toEqual(['first', 'second']);
      expect(await s.takeDue(T + 300, 2, 1000)).toEqual(['late']);
      expect(await s.takeDue(T + 300, 0, 1000)).toEqual([]);
      expect(await s.size()).toBe(4);
    });

    it('leases what it takes: it comes due again after leaseMs unless set or removed', async () => {
      const s = await factory.make();
      await s.add('a', T);
      await s.add('b', T);
      await s.add('c', T);
      expect((await s.takeDue(T, 10, 1000)).sort()).toEqual(['a', 'b', 'c']);
      expect(await s.nextDueAtMs()).toBe(T + 1000);
      expect(await s.takeDue(T + 999, 10, 1000)).toEqual([]);
      // add must not cut a lease short (a lookup or bus message arriving mid-poll).
      await s.add('a', T + 1);
      await s.set('b', T + 5000);
      await s.remove('c');
      expect(await s.takeDue(T + 1000, 10, 1000)).toEqual(['a']);
      expect(await s.takeDue(T + 1999, 10, 1000)).toEqual([]);
      expect(await s.takeDue(T + 2000, 10, 3000)).toEqual(['a']);
      expect(await s.takeDue(T + 4999, 10, 1000)).toEqual([]);
      expect((await s.takeDue(T + 5000, 10, 1000)).sort()).toEqual(['a', 'b']);
    });

    it('never hands one run to two takers at the same time', async () => {
      const first = await factory.make();
      const second = factory.peer ? await factory.peer() : first;
      const ids = Array.from({ length: 60 }, (_, i) => `run_${i}`);
      for (const id of ids) await first.add(id, T + (id.length % 3));
      const rounds = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? first : second).takeDue(T + 10, 7, 60_000)));
      const taken = rounds.flat();
      expect(taken).toHaveLength(60);
      expect(new Set(taken).size).toBe(60);
      expect(await second.takeDue(T + 10, 100, 60_000)).toEqual([]);
      expect(await second.takeDue(T + 60_010, 100, 60_000)).toHaveLength(60);
    });
  });
}

describe('heap', () => {
  const made: PollSchedule[] = [];
  pollScheduleContract('heap', {
    make: () => {
      const s = new HeapPollSchedule();
      made.push(s);
      return Promise.resolve(s);
    },
    closeAll: async () => {
      for (const s of made.splice(0)) await s.close();
    },
  });
});

describe.skipIf(!redisUp)('redis', () => {
  let prefix = uniquePrefix('polls');
  const made: Array<{ schedule: PollSchedule; close(): Promise<void> }> = [];
  const open = (): Promise<PollSchedule> => {
    const redis = testRedis(0);
    const schedule = new RedisPollSchedule({ redis, prefix, ownsConnection: true });
    made.push({ schedule, close: () => schedule.close() });
    return Promise.resolve(schedule);
  };
  pollScheduleContract('redis', {
    make: open,
    peer: open,
    closeAll: async () => {
      const admin = testRedis(0);
      await deletePrefix(admin, prefix);
      await admin.quit();
      for (const item of made.splice(0)) await item.close();
      prefix = uniquePrefix('polls');
    },
  });
});

describe.skipIf(!postgresUp)('postgres', () => {
  let db: TestDatabase | undefined;
  let url: string | undefined;
  const made: PollSchedule[] = [];
  beforeAll(async () => {
    db = await TestDatabase.create('polls');
  });
  afterAll(() => db?.drop());

  /** Each schedule on a pool of its own, as on another instance; peers share the test's schema. */
  const open = async (): Promise<PollSchedule> => {
    if (url === undefined) {
      const migrated = await db!.migratedPool('polls', 1);
      await migrated.pool.end();
      url = migrated.url;
    }
    const schedule = new PostgresPollSchedule({ pool: createPostgresPool(url, { max: 3 }), ownsPool: true });
    made.push(schedule);
    return schedule;
  };
  pollScheduleContract('postgres', {
    make: open,
    peer: open,
    closeAll: async () => {
      for (const schedule of made.splice(0)) await schedule.close();
      url = undefined;
    },
  });
});

