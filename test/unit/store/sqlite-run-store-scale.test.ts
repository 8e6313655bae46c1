import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { listSql, SqliteRunStore } from '../../../src/store/sqlite-run-store.js';
import type { RunRecord } from '../../../src/runs/run-record.js';

const tempDir = mkdtempSync(join(tmpdir(), 'rungate-sqlite-scale-'));
afterAll(() => rmSync(tempDir, { recursive: true, force: true }));
let files = 0;

function finished(i: number, updatedAtMs: number): RunRecord {
  return { run: { id: `exec_old_${i}`, flowId: 'flow-a', status: 'success', seq: 1, source: 'webhook' }, rev: 1, trackedAtMs: updatedAtMs, updatedAtMs };
}

/** Counts turns of the event loop (setImmediate) until stopped. */
function countTurns(): { stop(): number } {
  let turns = 0;
  let running = true;
  const turn = () => {
    if (!running) return;
    turns++;
    setImmediate(turn);
  };
  setImmediate(turn);
  return {
    stop() {
      running = false;
      return turns;
    },
  };
}

describe('SQLite store at scale', () => {
  it('pages every filter combination of the list route from an index, with no scan past other rows and no sort', async () => {
    const path = join(tempDir, `plans-${++files}.db`);
    await SqliteRunStore.open(path).close();
    const db = new Database(path, { readonly: true });
    try {
      for (const flowId of [undefined, 'f']) {
        for (const status of [undefined, 'running' as const]) {
          for (const owner of [undefined, 'alice']) {
            const plan = db
              .prepare(`EXPLAIN QUERY PLAN ${listSql({ flowId, status, owner })}`)
              .all({ before: 1e15, limit: 51, flowId, status, owner }) as Array<{ detail: string }>;
            const details = plan.map((row) => row.detail).join('; ');
            const filtered = flowId !== undefined || status !== undefined || owner !== undefined;
            // Unfiltered, the primary key (ordinal) is the index: a backward range scan of the table.
            if (filtered) expect(details, `${flowId}/${status}/${owner}`).toMatch(/USING INDEX runs_by_\w+ \(/);
            expect(details, `${flowId}/${status}/${owner}`).not.toMatch(/TEMP B-TREE/);
            // Every equality the query has must be a column of the index it uses.
            const columns = /\((.*)\)/.exec(details)?.[1] ?? '';
            if (flowId !== undefined) expect(columns).toContain('flow_id=?');
            if (status !== undefined) expect(columns).toContain('status=?');
            if (owner !== undefined) expect(columns).toContain('owner=?');
          }
        }
      }
    } finally {
      db.close();
    }
  });

  it('prunes a backlog in statements of at most pruneBatch rows, letting the event loop run between them', async () => {
    const store = SqliteRunStore.open(join(tempDir, `prune-${++files}.db`), { pruneBatch: 100 });
    try {
      await Promise.all(Array.from({ length: 1050 }, (_, i) => store.compareAndSet(finished(i, 1000 + i), 0)));
      await store.compareAndSet({ ...finished(9999, 10_000), run: { ...finished(9999, 10_000).run, id: 'exec_keep' } }, 0);
      const turns = countTurns();
      expect(await store.pruneFinished(5000)).toBe(1050);
      // 10 full batches, each followed by a turn of the loop; one statement for all would give none.
      expect(turns.stop()).toBeGreaterThanOrEqual(10);
      expect(await store.get('exec_keep')).toBeDefined();
      expect(await store.get('exec_old_0')).toBeUndefined();
      expect(await store.pruneFinished(5000)).toBe(0);
    } finally {
      await store.close();
    }
  });

  it('keeps the data of a schema-1 database it migrates', async () => {
    const path = join(tempDir, `v1-${++files}.db`);
    const v1 = new Database(path);
    v1.exec(`CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);
      CREATE TABLE runs (ordinal INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, flow_id TEXT NOT NULL, status TEXT NOT NULL,
        owner TEXT, rev INTEGER NOT NULL, final INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL, record TEXT NOT NULL);
      CREATE INDEX runs_unfinished ON runs (final) WHERE final = 0; CREATE INDEX runs_by_flow ON runs (flow_id, ordinal);
      CREATE INDEX runs_by_owner ON runs (owner, ordinal); CREATE INDEX runs_by_age ON runs (final, updated_at_ms);`);
    const kept = finished(1, 5);
    v1.prepare("INSERT INTO runs (id, flow_id, status, owner, rev, final, updated_at_ms, record) VALUES (?, 'flow-a', 'success', NULL, 1, 1, 5, ?)").run(kept.run.id, JSON.stringify(kept));
    v1.close();
    const store = SqliteRunStore.open(path);
    try {
      expect((await store.list({ status: 'success', limit: 5 })).records).toEqual([kept]);
    } finally {
      await store.close();
    }
  });
});
