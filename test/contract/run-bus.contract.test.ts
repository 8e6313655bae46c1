import { afterEach, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { MemoryRunBus } from '../../src/bus/memory-run-bus.js';
import { RedisRunBus, runChannel } from '../../src/bus/redis-run-bus.js';
import type { RunBus } from '../../src/bus/run-bus.js';
import type { RunRecord } from '../../src/runs/run-record.js';
import { killClientsNamed, redisAvailable, REDIS_HOST, REDIS_PORT, testRedis, uniquePrefix } from '../support/redis.js';
import { record } from './run-store.contract.js';

const redisUp = await redisAvailable();

/** Resolves when `check` holds, polling every 5 ms; rejects after `timeoutMs`. */
async function until(check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A quiet window for the checks that a listener gets nothing: how long they listen. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 150));

/** Makes a bus; the same `scope` means the same channel (cluster peers), another means apart. */
type BusFactory = (scope: string) => Promise<RunBus>;

function runBusContract(name: string, makeBus: BusFactory, closeAll: () => Promise<void>): void {
  describe(`RunBus contract: ${name}`, () => {
    afterEach(closeAll);

    it('delivers a published change to every listener, in publish order', async () => {
      const bus = await makeBus('a');
      const first: RunRecord[] = [];
      const second: string[] = [];
      bus.subscribe((r) => first.push(r));
      bus.subscribe((r) => second.push(r.run.id));
      const records = Array.from({ length: 20 }, (_, i) => record({ id: `exec_order_${i}`, seq: i + 1 }));
      for (const r of records) await bus.publish(r);
      await until(() => first.length === 20 && second.length === 20);
      expect(first).toEqual(records);
      expect(second).toEqual(records.map((r) => r.run.id));
    });

    it('keeps calling the other listeners when one throws', async () => {
      const bus = await makeBus('a');
      const seen: string[] = [];
      bus.subscribe(() => {
        throw new Error('listener bug');
      });
      bus.subscribe((r) => seen.push(r.run.id));
      await bus.publish(record({ id: 'exec_1' }));
      await bus.publish(record({ id: 'exec_2' }));
      await until(() => seen.length === 2);
      expect(seen).toEqual(['exec_1', 'exec_2']);
    });

    it('stops calling a listener once it unsubscribes', async () => {
      const bus = await makeBus('a');
      const seen: string[] = [];
      const other: string[] = [];
      const unsubscribe = bus.subscribe((r) => seen.push(r.run.id));
      bus.subscribe((r) => other.push(r.run.id));
      await bus.publish(record({ id: 'exec_1' }));
      await until(() => seen.length === 1);
      unsubscribe();
      await bus.publish(record({ id: 'exec_2' }));
      await until(() => other.length === 2);
      await settle();
      expect(seen).toEqual(['exec_1']);
    });

    it('rejects publish after close and calls no listener', async () => {
      const bus = await makeBus('a');
      const seen: string[] = [];
      bus.subscribe((r) => seen.push(r.run.id));
      await bus.close();
      await expect(bus.publish(record())).rejects.toThrow();
      await settle();
      expect(seen).toEqual([]);
    });
  });
}

describe('memory', () => {
  const buses: RunBus[] = [];
  runBusContract(
    'memory',
    () => {
      const bus = new MemoryRunBus();
      buses.push(bus);
      return Promise.resolve(bus);
    },
    async () => {
      for (const bus of buses.splice(0)) await bus.close();
    },
  );
});

describe.skipIf(!redisUp)('redis', () => {
  const opened: Array<{ close(): Promise<void> }> = [];
  const testPrefix = uniquePrefix('bus');

  /** A bus as createDrivers makes it; `scope` picks prefix and db (`name@db`). */
  async function redisBus(scope: string, subscriberName = 'rungate-test-bus-sub'): Promise<RedisRunBus> {
    const [label, dbText] = scope.split('@');
    const db = Number(dbText ?? '0');
    const publisher = new Redis({ host: REDIS_HOST, port: REDIS_PORT, db });
    const subscriber = publisher.duplicate({ connectionName: subscriberName });
    const bus = await RedisRunBus.create({ publisher, subscriber, channel: runChannel(`${testPrefix}${label}:`, db), ownsPublisher: true });
    opened.push(bus);
    return bus;
  }
  const closeAll = async () => {
    for (const item of opened.splice(0)) await item.close();
  };

  runBusContract('redis', (scope) => redisBus(scope), closeAll);

  describe('across instances', () => {
    afterEach(closeAll);

    it('lets two instances see each other’s changes, and themselves, in one order', async () => {
      const a = await redisBus('shared');
      const b = await redisBus('shared');
      const seenA: string[] = [];
      const seenB: string[] = [];
      a.subscribe((r) => seenA.push(r.run.id));
      b.subscribe((r) => seenB.push(r.run.id));
      await Promise.all([a.publish(record({ id: 'exec_from_a' })), b.publish(record({ id: 'exec_from_b' }))]);
      await until(() => seenA.length === 2 && seenB.length === 2);
      expect(seenA).toEqual(seenB);
      expect([...seenA].sort()).toEqual(['exec_from_a', 'exec_from_b']);
    });

    it('keeps other prefixes and other databases apart', async () => {
      const here = await redisBus('p1@0');
      const otherPrefix = await redisBus('p2@0');
      const otherDb = await redisBus('p1@1');
      const seen = { here: [] as string[], otherPrefix: [] as string[], otherDb: [] as string[] };
      here.subscribe((r) => seen.here.push(r.run.id));
      otherPrefix.subscribe((r) => seen.otherPrefix.push(r.run.id));
      otherDb.subscribe((r) => seen.otherDb.push(r.run.id));
      await here.publish(record({ id: 'exec_here' }));
      await otherDb.publish(record({ id: 'exec_db1' }));
      await until(() => seen.here.length === 1 && seen.otherDb.length === 1);
      await settle();
      expect(seen).toEqual({ here: ['exec_here'], otherPrefix: [], otherDb: ['exec_db1'] });
    });

    it('calls resync listeners after its subscriber connection is killed, and still delivers afterwards', async () => {
      const name = `rungate-test-${Math.random().toString(36).slice(2, 10)}`;
      const bus = await redisBus('resync', name);
      const peer = await redisBus('resync');
      let resyncs = 0;
      const seen: string[] = [];
      bus.onResync(() => resyncs++);
      bus.onResync(() => {
        throw new Error('a failing resync listener must not stop the others');
      });
      bus.onResync(() => resyncs++);
      bus.subscribe((r) => seen.push(r.run.id));
      const admin = testRedis(0);
      try {
        expect(await killClientsNamed(admin, name)).toBe(1);
      } finally {
        await admin.quit();
      }
      await until(() => resyncs === 2, 10_000);
      await peer.publish(record({ id: 'exec_after_reconnect' }));
      await until(() => seen.includes('exec_after_reconnect'));
      expect(resyncs).toBe(2);
    });
  });
});
