import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryRunStore } from '../../src/store/memory-run-store.js';
import { RedisRunStore } from '../../src/store/redis-run-store.js';
import { SqliteRunStore } from '../../src/store/sqlite-run-store.js';
import { deletePrefix, redisAvailable, testRedis, uniquePrefix } from '../support/redis.js';
import { record, runStoreContract } from './run-store.contract.js';

const redisUp = await redisAvailable();
const tempDir = mkdtempSync(join(tmpdir(), 'rungate-store-'));
let files = 0;

afterAll(() => rmSync(tempDir, { recursive: true, force: true }));

runStoreContract('memory', () => {
  const store = new MemoryRunStore();
  return Promise.resolve({ store, dispose: () => store.close() });
});

runStoreContract('sqlite', () => {
  const path = join(tempDir, `contract-${++files}.db`);
  const store = SqliteRunStore.open(path);
  return Promise.resolve({
    store,
    dispose: async () => {
      await store.close();
      rmSync(path, { force: true });
    },
  });
});

describe.skipIf(!redisUp)('redis', () => {
  runStoreContract('redis', () => {
    const prefix = uniquePrefix('store');
    const redis = testRedis(0);
    const store = new RedisRunStore({ redis, prefix, ownsConnection: false });
    return Promise.resolve({
      store,
      dispose: async () => {
        await store.close();
        await deletePrefix(redis, prefix);
        await redis.quit();
      },
    });
  });

  it('keeps runs apart by prefix and by database', async () => {
    const prefixA = uniquePrefix('store-a');
    const prefixB = uniquePrefix('store-b');
    const db0 = testRedis(0);
    const db1 = testRedis(1);
    const stores = [
      new RedisRunStore({ redis: db0, prefix: prefixA }),
      new RedisRunStore({ redis: db0, prefix: prefixB }),
      new RedisRunStore({ redis: db1, prefix: prefixA }),
    ];
    try {
      const shared = record({ id: 'exec_same_id' });
      expect(await stores[0]!.compareAndSet(shared, 0)).toBe(true);
      expect(await stores[1]!.get('exec_same_id')).toBeUndefined();
      expect(await stores[2]!.get('exec_same_id')).toBeUndefined();
      expect(await stores[1]!.compareAndSet(shared, 0)).toBe(true);
      expect((await stores[2]!.list({ limit: 5 })).records).toEqual([]);
    } finally {
      for (const [redis, prefix] of [[db0, prefixA], [db0, prefixB], [db1, prefixA]] as const) await deletePrefix(redis, prefix);
      await db0.quit();
      await db1.quit();
    }
  });

  it('rejects ping when Redis does not answer', async () => {
    const redis = testRedis(0);
    const store = new RedisRunStore({ redis, prefix: uniquePrefix('ping') });
    try {
      redis.disconnect();
      await expect(store.ping()).rejects.toThrow();
    } finally {
      redis.disconnect();
    }
  });
});

describe('sqlite durability', () => {
  it('finds every answered write after reopening the file (also without a clean close)', async () => {
    const path = join(tempDir, 'durable', 'nested', 'runs.db');
    const first = SqliteRunStore.open(path);
    const a = record({ status: 'running', owner: 'alice' });
    const b = record({ status: 'success' });
    expect(await first.compareAndSet(a, 0)).toBe(true);
    expect(await first.compareAndSet(b, 0)).toBe(true);
    // A second handle reads the file as a restarted process would, while the first is still open
    // (a SIGKILLed process never checkpoints the WAL).
    const second = SqliteRunStore.open(path);
    expect(await second.get(a.run.id)).toEqual(a);
    expect((await second.listUnfinished()).map((r) => r.run.id)).toEqual([a.run.id]);
    expect((await second.list({ limit: 5 })).records.map((r) => r.run.id)).toEqual([b.run.id, a.run.id]);
    await first.close();
    await second.close();
    const third = SqliteRunStore.open(path);
    expect(await third.get(b.run.id)).toEqual(b);
    await third.close();
  });

  it('migrates once: reopening changes neither schema version nor data', async () => {
    const path = join(tempDir, 'migrate.db');
    const store = SqliteRunStore.open(path);
    const a = record();
    await store.compareAndSet(a, 0);
    await store.close();
    for (let i = 0; i < 3; i++) await SqliteRunStore.open(path).close();
    const db = new Database(path, { readonly: true });
    try {
      expect(db.prepare('SELECT version FROM schema_version').all()).toEqual([{ version: 1 }]);
      expect(db.prepare('SELECT COUNT(*) AS n FROM runs').get()).toEqual({ n: 1 });
    } finally {
      db.close();
    }
  });

  it('refuses a database from a newer rungate', async () => {
    const path = join(tempDir, 'newer.db');
    await SqliteRunStore.open(path).close();
    const db = new Database(path);
    db.prepare('UPDATE schema_version SET version = 99').run();
    db.close();
    expect(() => SqliteRunStore.open(path)).toThrow(/newer/);
  });
});
