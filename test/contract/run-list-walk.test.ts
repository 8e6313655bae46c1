import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { RedisRunStore } from '../../src/store/redis-run-store.js';
import { listSql, SqliteRunStore } from '../../src/store/sqlite-run-store.js';
import { deletePrefix, redisAvailable, testRedis, uniquePrefix } from '../support/redis.js';
import { record } from './run-store.contract.js';
import type { RunStatus } from '../../src/runs/run.js';

const redisUp = await redisAvailable();
/** Runs of one flow, all alice's: a list by bob filtered on that flow has nothing to show. */
const FLOW_RUNS = 4000;

/**
 * Finding 11 of issue 12: a list filtered by another owner's flow must not walk that flow's whole
 * index (work amplification, and a timing leak of the flow's size): the caller's own index comes first.
 */
describe('a list filtered by a foreign flow walks only the caller’s own runs', () => {
  describe.skipIf(!redisUp)('redis', () => {
    it('reads one slice of the caller’s own index, not the flow’s', async () => {
      const prefix = uniquePrefix('list-walk');
      const redis = testRedis(0);
      const store = new RedisRunStore({ redis, prefix, ownsConnection: false });
      try {
        const pipeline = redis.pipeline() as unknown as { rungateRunCas(...args: Array<string | number>): void; exec(): Promise<unknown> };
        // Written through the store's own script, in one round trip.
        for (let i = 0; i < FLOW_RUNS; i++) {
          const rec = record({ id: `exec_walk_${i}`, flowId: 'alice-flow', owner: 'alice' });
          pipeline.rungateRunCas(
            `${prefix}run:${rec.run.id}`, `${prefix}runs`, `${prefix}ordinal`, `${prefix}unfinished`, `${prefix}finished`, `${prefix}flow:alice-flow`, `${prefix}owner:alice`, `${prefix}mark`, `${prefix}relaydue`,
            0, 1, JSON.stringify(rec), rec.run.id, 0, rec.updatedAtMs, 'alice', 'alice-flow', '', 0, '',
          );
        }
        await pipeline.exec();
        await store.compareAndSet(record({ id: 'exec_bobs', flowId: 'bob-flow', owner: 'bob' }), 0);
        expect((await store.list({ limit: 50, owner: 'alice', flowId: 'alice-flow' })).records).toHaveLength(50);

        const slices = vi.spyOn(redis, 'zrevrangebyscore');
        const page = await store.list({ limit: 50, owner: 'bob', flowId: 'alice-flow' });
        expect(page).toEqual({ records: [] });
        expect(slices).toHaveBeenCalledTimes(1);
        expect(slices.mock.calls[0]![0]).toBe(`${prefix}owner:bob`);
        slices.mockRestore();
      } finally {
        await deletePrefix(redis, prefix);
        await redis.quit();
      }
    });
  });

  describe('sqlite', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rungate-walk-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('plans an owner’s list on the owner’s index, also when statistics favour a foreign flow’s', async () => {
      const path = join(dir, 'walk.db');
      const store = SqliteRunStore.open(path);
      // Statistics that make a flow look selective: one big flow of alice's among many small ones.
      const writes: Array<Promise<boolean>> = [];
      for (let i = 0; i < 3000; i++) writes.push(store.compareAndSet(record({ id: `exec_big_${i}`, flowId: 'alice-flow', owner: 'alice' }), 0));
      for (let i = 0; i < 1000; i++) writes.push(store.compareAndSet(record({ id: `exec_small_${i}`, flowId: `flow-${i}`, owner: 'alice' }), 0));
      writes.push(store.compareAndSet(record({ id: 'exec_bobs', flowId: 'bob-flow', owner: 'bob' }), 0));
      await Promise.all(writes);
      await store.close();
      const db = new Database(path);
      try {
        db.exec('ANALYZE');
        const plan = (query: { flowId?: string; status?: RunStatus; owner?: string }, text = listSql(query)) =>
          (db.prepare(`EXPLAIN QUERY PLAN ${text}`).all({ before: 1e15, limit: 51, ...query }) as Array<{ detail: string }>).map((row) => row.detail).join('; ');
        expect(plan({ owner: 'bob', flowId: 'alice-flow' })).toMatch(/USING INDEX runs_by_owner\w* \(owner=\?/);
        expect(plan({ owner: 'bob', status: 'queued' })).toMatch(/USING INDEX runs_by_owner\w* \(owner=\?/);
        expect(plan({ owner: 'bob', flowId: 'alice-flow', status: 'queued' })).toMatch(/USING INDEX runs_by_owner\w* \(owner=\?/);
      } finally {
        db.close();
      }
      const reopened = SqliteRunStore.open(path);
      expect((await reopened.list({ limit: 50, owner: 'bob', flowId: 'alice-flow' })).records).toEqual([]);
      expect((await reopened.list({ limit: 50, owner: 'bob' })).records.map((r) => r.run.id)).toEqual(['exec_bobs']);
      await reopened.close();
    });
  });
});
