import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresPool } from '../../src/postgres/postgres-connection.js';
import { migrate, readEpoch, SCHEMA_VERSION } from '../../src/postgres/postgres-schema.js';
import { MemoryRunStore } from '../../src/store/memory-run-store.js';
import { listQuery, PostgresRunStore } from '../../src/store/postgres-run-store.js';
import { RedisRunStore } from '../../src/store/redis-run-store.js';
import { SqliteRunStore } from '../../src/store/sqlite-run-store.js';
import { postgresAvailable, TestDatabase } from '../support/postgres.js';
import { deletePrefix, redisAvailable, testRedis, uniquePrefix } from '../support/redis.js';
import { record, runStoreContract } from './run-store.contract.js';

const redisUp = await redisAvailable();
const postgresUp = await postgresAvailable();
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

describe.skipIf(!postgresUp)('postgres', () => {
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = await TestDatabase.create('store');
  });
  afterAll(() => db?.drop());

  runStoreContract('postgres', async () => {
    const { pool } = await db!.migratedPool('store');
    const store = new PostgresRunStore({ pool });
    return { store, dispose: () => pool.end() };
  });

  it('migrates once, also when instances start together, and keeps its epoch', async () => {
    const url = await db!.schema('migrate');
    const pools = Array.from({ length: 3 }, () => createPostgresPool(url, { max: 1 }));
    try {
      const results = await Promise.all(pools.map((pool) => migrate(pool)));
      // Exactly one of them applied the schema; the others waited on the lock and found it done.
      expect(results.filter((r) => r.from === 0)).toHaveLength(1);
      expect(results.every((r) => r.to === SCHEMA_VERSION)).toBe(true);
      const epoch = await readEpoch(pools[0]!);
      const store = new PostgresRunStore({ pool: pools[0]! });
      const a = record();
      expect(await store.compareAndSet(a, 0)).toBe(true);
      expect(await migrate(pools[1]!)).toEqual({ from: SCHEMA_VERSION, to: SCHEMA_VERSION });
      expect(await readEpoch(pools[1]!)).toBe(epoch);
      expect(await store.get(a.run.id)).toEqual(a);
      const versions = await pools[2]!.query('SELECT version FROM rungate_schema_migrations ORDER BY version');
      expect(versions.rows.map((row: { version: number }) => row.version)).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    } finally {
      for (const pool of pools) await pool.end();
    }
  });

  it('pages every filter combination, and the unfinished runs, by reading an index in order (no sort of the matches)', async () => {
    const { pool } = await db!.migratedPool('plans');
    const client = await pool.connect();
    try {
      // A sort is then chosen only when no index gives the order (ordering by the float8 alias did).
      await client.query('SET enable_sort = off');
      const planOf = async (text: string, values: unknown[]) =>
        (await client.query<{ 'QUERY PLAN': string }>({ text: `EXPLAIN ${text}`, values })).rows.map((row) => row['QUERY PLAN']).join('\n');
      for (const flowId of [undefined, 'f']) {
        for (const status of [undefined, 'failed' as const]) {
          for (const owner of [undefined, 'alice']) {
            for (const before of [undefined, 500]) {
              const { text, values } = listQuery({ flowId, status, owner, limit: 50 }, before);
              const plan = await planOf(text, values ?? []);
              expect(plan, `${flowId}/${status}/${owner}/${before}`).not.toMatch(/Sort/);
              expect(plan, `${flowId}/${status}/${owner}/${before}`).toMatch(/Index Scan Backward/);
            }
          }
        }
      }
      const unfinished = await planOf('SELECT ordinal::float8 AS ordinal, id, stale FROM rungate_runs WHERE NOT final AND ordinal > $1 ORDER BY rungate_runs.ordinal LIMIT $2', [0, 1000]);
      expect(unfinished).toMatch(/rungate_runs_unfinished_by_ordinal/);
    } finally {
      client.release();
      await pool.end();
    }
  });

  it('refuses a schema from a newer rungate, changing nothing', async () => {
    const { pool } = await db!.migratedPool('newer', 1);
    try {
      await pool.query('INSERT INTO rungate_schema_migrations (version) VALUES (99)');
      await expect(migrate(pool)).rejects.toThrow(/newer/);
      const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM rungate_schema_migrations');
      expect(rows[0]!.n).toBe(SCHEMA_VERSION + 1);
    } finally {
      await pool.end();
    }
  });

  it('logs each accepted write to the change log in the same transaction, and no refused one', async () => {
    const { pool } = await db!.migratedPool('log', 2);
    try {
      const store = new PostgresRunStore({ pool });
      const a = record({ rev: 1 });
      expect(await store.compareAndSet(a, 0)).toBe(true);
      expect(await store.compareAndSet(a, 0)).toBe(false);
      const b = record({ id: a.run.id, rev: 2, status: 'success' });
      expect(await store.compareAndSet(b, 1)).toBe(true);
      expect(await store.compareAndSet(b, 1)).toBe(false);
      const { rows } = await pool.query<{ run_id: string; rev: number; record: string }>('SELECT run_id, rev, record FROM rungate_changes ORDER BY id');
      expect(rows.map((row) => [row.run_id, row.rev])).toEqual([
        [a.run.id, 1],
        [a.run.id, 2],
      ]);
      expect(JSON.parse(rows[1]!.record)).toEqual(b);
    } finally {
      await pool.end();
    }
  });

  it('commits concurrent writes together, each with its own outcome, and one bad write fails alone', async () => {
    const { pool } = await db!.migratedPool('batch', 2);
    try {
      const store = new PostgresRunStore({ pool });
      const first = record({ rev: 1 });
      const id = first.run.id;
      // Issued in one turn: the first commits alone, the rest wait and go as one batch.
      const writes = [
        store.compareAndSet(first, 0),
        store.compareAndSet(record({ id, rev: 2, status: 'running' }), 1),
        store.compareAndSet(record({ id, rev: 2, status: 'failed' }), 1),
        store.compareAndSet(record({ id: 'exec_\u0000bad' }), 0),
        store.compareAndSet(record({ id: `${id}_other` }), 0),
        store.compareAndSet(record({ id, rev: 3, status: 'success' }), 2),
      ];
      const outcomes = await Promise.allSettled(writes);
      expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : 'rejected'))).toEqual([true, true, false, 'rejected', true, true]);
      expect((await store.get(id))?.run.status).toBe('success');
      expect(await store.get(`${id}_other`)).toBeDefined();
      const { rows } = await pool.query<{ rev: number }>('SELECT rev FROM rungate_changes WHERE run_id = $1 ORDER BY id', [id]);
      expect(rows.map((row) => row.rev)).toEqual([1, 2, 3]);
    } finally {
      await pool.end();
    }
  });

  it('has an index for every filter combination of the list, ending in the order column', async () => {
    const { pool } = await db!.migratedPool('plans', 1);
    try {
      // Planners pick among indexes by cost, so a plan on test-sized tables proves little; what
      // keeps a page one range scan at any size is an index whose equality columns are exactly
      // the filters, followed by ordinal.
      const { rows } = await pool.query<{ columns: string[] }>(
        `SELECT array_agg(a.attname::text ORDER BY k.n) AS columns
           FROM pg_index i
           JOIN pg_class t ON t.oid = i.indrelid AND t.relname = 'rungate_runs' AND t.relnamespace = current_schema()::regnamespace
           CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
           JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
          GROUP BY i.indexrelid`,
      );
      const shapes = rows.map((row) => row.columns);
      for (const filters of [[], ['flow_id'], ['status'], ['owner'], ['flow_id', 'status'], ['flow_id', 'owner'], ['owner', 'status'], ['flow_id', 'owner', 'status']]) {
        const served = shapes.some((columns) => columns.length === filters.length + 1 && columns.at(-1) === 'ordinal' && [...columns.slice(0, -1)].sort().join() === filters.join());
        expect(served, `an index on (${[...filters, 'ordinal'].join(', ')})`).toBe(true);
      }
      const store = new PostgresRunStore({ pool });
      await store.compareAndSet(record({ flowId: 'f', status: 'failed', owner: 'o' }), 0);
      expect((await store.list({ flowId: 'f', status: 'failed', owner: 'o', limit: 5 })).records).toHaveLength(1);
    } finally {
      await pool.end();
    }
  });

  it('rejects ping when the database does not answer', async () => {
    const pool = createPostgresPool('postgres://postgres@127.0.0.1:1/nothing', { max: 1, connectionTimeoutMs: 500 });
    try {
      await expect(new PostgresRunStore({ pool }).ping()).rejects.toThrow();
    } finally {
      await pool.end();
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
      expect(db.prepare('SELECT version FROM schema_version').all()).toEqual([{ version: 3 }]);
      expect(db.prepare('SELECT COUNT(*) AS n FROM runs').get()).toEqual({ n: 1 });
    } finally {
      db.close();
    }
  });

  it('migrates a version 1 database (before the relay outbox) keeping its runs', async () => {
    const path = join(tempDir, 'v1.db');
    const old = new Database(path);
    old.exec(`CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);
      CREATE TABLE runs (ordinal INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, flow_id TEXT NOT NULL, status TEXT NOT NULL,
        owner TEXT, rev INTEGER NOT NULL, final INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL, record TEXT NOT NULL);
      CREATE INDEX runs_unfinished ON runs (final) WHERE final = 0;
      CREATE INDEX runs_by_flow ON runs (flow_id, ordinal);
      CREATE INDEX runs_by_owner ON runs (owner, ordinal);
      CREATE INDEX runs_by_age ON runs (final, updated_at_ms);`);
    const a = record({ status: 'success' });
    old.prepare('INSERT INTO runs (id, flow_id, status, owner, rev, final, updated_at_ms, record) VALUES (?, ?, ?, NULL, 1, 1, 1, ?)').run(a.run.id, a.run.flowId, 'success', JSON.stringify(a));
    old.close();
    const store = SqliteRunStore.open(path);
    try {
      expect(await store.get(a.run.id)).toEqual(a);
      expect(await store.listDueDeliveries(Date.now(), 10)).toEqual([]);
    } finally {
      await store.close();
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
