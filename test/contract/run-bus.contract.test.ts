import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { MemoryRunBus } from '../../src/bus/memory-run-bus.js';
import { PostgresRunBus } from '../../src/bus/postgres-run-bus.js';
import { createPostgresPool } from '../../src/postgres/postgres-connection.js';
import { PostgresRunStore } from '../../src/store/postgres-run-store.js';
import { RedisRunBus, runChannel } from '../../src/bus/redis-run-bus.js';
import type { RunBus } from '../../src/bus/run-bus.js';
import type { RunRecord } from '../../src/runs/run-record.js';
import { postgresAvailable, terminateConnections, TestDatabase } from '../support/postgres.js';
import { killClientsNamed, redisAvailable, REDIS_HOST, REDIS_PORT, testRedis, uniquePrefix } from '../support/redis.js';
import { record } from './run-store.contract.js';

const redisUp = await redisAvailable();
const postgresUp = await postgresAvailable();

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

describe.skipIf(!postgresUp)('postgres', () => {
  let db: TestDatabase | undefined;
  /** scope → the URL of its schema (one schema per scope per test: peers share it). */
  let scopes = new Map<string, Promise<string>>();
  const opened: Array<{ close(): Promise<void> }> = [];

  beforeAll(async () => {
    db = await TestDatabase.create('bus');
  });
  afterAll(() => db?.drop());

  function schemaOf(scope: string): Promise<string> {
    let url = scopes.get(scope);
    if (!url) {
      url = db!.migratedPool(scope.replace(/@.*/, ''), 1).then(async ({ url: schemaUrl, pool }) => {
        await pool.end();
        return schemaUrl;
      });
      scopes.set(scope, url);
    }
    return url;
  }

  /** A bus as createDrivers makes it, on its own pool (another instance); `name` labels its LISTEN connection. */
  async function postgresBus(scope: string, name = 'rungate-test-listener', options: { retentionMs?: number } = {}): Promise<PostgresRunBus> {
    const url = await schemaOf(scope);
    const pool = createPostgresPool(url, { max: 2 });
    const bus = await PostgresRunBus.create({ pool, url, ownsPool: true, applicationName: name, ...options });
    opened.push(bus);
    return bus;
  }
  const closeAll = async () => {
    for (const item of opened.splice(0)) await item.close();
    scopes = new Map();
  };

  runBusContract('postgres', (scope) => postgresBus(scope), closeAll);

  describe('across instances', () => {
    afterEach(closeAll);

    it('lets two instances see each other’s changes, and themselves, in one order', async () => {
      const a = await postgresBus('shared');
      const b = await postgresBus('shared');
      const seenA: string[] = [];
      const seenB: string[] = [];
      a.subscribe((r) => seenA.push(r.run.id));
      b.subscribe((r) => seenB.push(r.run.id));
      await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).publish(record({ id: `exec_${i}` }))));
      await until(() => seenA.length === 20 && seenB.length === 20);
      expect(seenA).toEqual(seenB);
      expect(new Set(seenA).size).toBe(20);
    });

    it('keeps other schemas apart', async () => {
      const here = await postgresBus('p1');
      const other = await postgresBus('p2');
      const seen = { here: [] as string[], other: [] as string[] };
      here.subscribe((r) => seen.here.push(r.run.id));
      other.subscribe((r) => seen.other.push(r.run.id));
      await here.publish(record({ id: 'exec_here' }));
      await until(() => seen.here.length === 1);
      await settle();
      expect(seen).toEqual({ here: ['exec_here'], other: [] });
    });

    it('carries records far over the 8000-byte NOTIFY limit (the notification holds only an id)', async () => {
      const bus = await postgresBus('big');
      const seen: RunRecord[] = [];
      bus.subscribe((r) => seen.push(r));
      const big = record({ id: 'exec_big' });
      big.run.output = { text: 'x'.repeat(200_000) };
      await bus.publish(big);
      await until(() => seen.length === 1);
      expect(seen[0]).toEqual(big);
    });

    it('delivers a change the store logged once, however often it is published', async () => {
      const bus = await postgresBus('store');
      const url = await schemaOf('store');
      const pool = createPostgresPool(url, { max: 1 });
      opened.push({ close: () => pool.end() });
      const seen: string[] = [];
      bus.subscribe((r) => seen.push(`${r.run.id}@${r.rev}`));
      const store = new PostgresRunStore({ pool });
      const first = record({ id: 'exec_stored', rev: 1 });
      expect(await store.compareAndSet(first, 0)).toBe(true);
      // The writer publishes what it stored; the store's transaction has logged it already.
      await bus.publish(first);
      await bus.publish(first);
      const second = record({ id: 'exec_stored', rev: 2, status: 'success' });
      expect(await store.compareAndSet(second, 1)).toBe(true);
      await until(() => seen.length === 2);
      await settle();
      expect(seen).toEqual(['exec_stored@1', 'exec_stored@2']);
    });

    it('catches up, without a resync, on what was published while its LISTEN connection was down', async () => {
      const name = `rungate-test-${Math.random().toString(36).slice(2, 10)}`;
      const bus = await postgresBus('catchup', name);
      const peer = await postgresBus('catchup');
      let resyncs = 0;
      const seen: string[] = [];
      bus.onResync(() => resyncs++);
      bus.subscribe((r) => seen.push(r.run.id));
      await peer.publish(record({ id: 'exec_before' }));
      await until(() => seen.length === 1);
      expect(await terminateConnections(await schemaOf('catchup'), name)).toBe(1);
      const during = Array.from({ length: 30 }, (_, i) => `exec_during_${i}`);
      for (const id of during) await peer.publish(record({ id }));
      await until(() => seen.length === 31, 10_000);
      await peer.publish(record({ id: 'exec_after' }));
      await until(() => seen.length === 32);
      expect(seen).toEqual(['exec_before', ...during, 'exec_after']);
      expect(resyncs).toBe(0);
    });

    it('resynchronises when the changes it missed were pruned, and goes on delivering', async () => {
      const url = await schemaOf('pruned');
      // The bus reads the log through its own pool: while the test holds that pool's only
      // connection, the bus is "away" however promptly notifications come in.
      const pool = createPostgresPool(url, { max: 1 });
      const bus = await PostgresRunBus.create({ pool, url, ownsPool: true, retentionMs: 0 });
      opened.push(bus);
      const peer = await postgresBus('pruned', 'rungate-test-peer', { retentionMs: 0 });
      let resyncs = 0;
      const seen: string[] = [];
      bus.onResync(() => resyncs++);
      bus.onResync(() => {
        throw new Error('a failing resync listener must not stop the others');
      });
      bus.onResync(() => resyncs++);
      bus.subscribe((r) => seen.push(r.run.id));
      const held = await pool.connect();
      try {
        await peer.publish(record({ id: 'exec_missed' }));
        expect(await peer.prune()).toBe(1);
      } finally {
        held.release();
      }
      await until(() => resyncs === 2, 10_000);
      await peer.publish(record({ id: 'exec_after' }));
      await until(() => seen.includes('exec_after'));
      expect(seen).toEqual(['exec_after']);
      expect(resyncs).toBe(2);
    });

    it('resynchronises when the database is not the one it knew (its epoch changed)', async () => {
      const bus = await postgresBus('epoch');
      const url = await schemaOf('epoch');
      let resyncs = 0;
      const seen: string[] = [];
      bus.onResync(() => resyncs++);
      bus.subscribe((r) => seen.push(r.run.id));
      await bus.publish(record({ id: 'exec_old_1' }));
      await bus.publish(record({ id: 'exec_old_2' }));
      await until(() => seen.length === 2);
      // What a database dropped and created anew looks like: an empty log counting from 1, another epoch.
      const pool = createPostgresPool(url, { max: 1 });
      try {
        await pool.query("TRUNCATE rungate_changes RESTART IDENTITY; UPDATE rungate_meta SET value = 'another' WHERE key = 'epoch'");
      } finally {
        await pool.end();
      }
      await bus.publish(record({ id: 'exec_new' }));
      await until(() => resyncs === 1 && seen.length === 3);
      expect(seen).toEqual(['exec_old_1', 'exec_old_2', 'exec_new']);
    });
  });
});

