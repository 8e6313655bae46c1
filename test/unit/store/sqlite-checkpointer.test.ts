import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { SqliteRunStore } from '../../../src/store/sqlite-run-store.js';
import type { RunRecord } from '../../../src/runs/run-record.js';

const tempDir = mkdtempSync(join(tmpdir(), 'rungate-sqlite-checkpoint-'));
afterAll(() => rmSync(tempDir, { recursive: true, force: true }));

function record(i: number): RunRecord {
  return { run: { id: `exec_ck_${i}`, flowId: 'flow-a', status: 'running', seq: 1, source: 'webhook', output: 'x'.repeat(500) }, rev: 1, trackedAtMs: i, updatedAtMs: i };
}

/** The writing connection's automatic checkpoint threshold (0: off, the worker checkpoints). */
const autoCheckpointPages = (store: SqliteRunStore): number => {
  const [{ wal_autocheckpoint: pages }] = (store as unknown as { db: Database.Database }).db.pragma('wal_autocheckpoint') as [{ wal_autocheckpoint: number }];
  return pages;
};

const walBytes = (path: string): number => {
  try {
    return statSync(`${path}-wal`).size;
  } catch {
    return 0;
  }
};

describe('SQLite checkpoints from a worker thread', () => {
  it('keeps commits off the database file, yet the WAL stays short and nothing written is lost', async () => {
    const path = join(tempDir, 'busy.db');
    // The log restarts at 2,000 pages (8 MB) here rather than 64 MB, so that it is seen to.
    const store = SqliteRunStore.open(path, { walRestartPages: 2000 });
    const db = new Database(path, { readonly: true });
    // The writing connection's automatic checkpoint is off: the worker does it.
    expect(autoCheckpointPages(store)).toBe(0);
    let largestWal = 0;
    // 80,000 writes of ~700 bytes in batches (group commits), with turns between them for the
    // worker's messages: ~60 MB through the WAL, which without checkpoints would hold it all.
    // The log starts over only after a checkpoint that caught up, so under writes this fast it
    // may pass its restart length by a few checkpoints' worth (17 MB was seen on a busy machine).
    for (let batch = 0; batch < 400; batch++) {
      await Promise.all(Array.from({ length: 200 }, (_, i) => store.compareAndSet(record(batch * 200 + i), 0)));
      largestWal = Math.max(largestWal, walBytes(path));
      await new Promise((done) => setTimeout(done, 2));
    }
    expect(largestWal).toBeLessThan(24 * 1024 * 1024);
    await store.close();
    expect(walBytes(path)).toBe(0);
    const count = db.prepare('SELECT count(*) AS n FROM runs').get() as { n: number };
    expect(count.n).toBe(80_000);
    db.close();
  });

  it('prunes a large backlog to the end (pausing while the WAL starts over) with the WAL kept short', async () => {
    const path = join(tempDir, 'prune.db');
    const seeding = SqliteRunStore.open(path);
    for (let batch = 0; batch < 40; batch++) {
      await Promise.all(Array.from({ length: 500 }, (_, i) => seeding.compareAndSet({ ...record(batch * 500 + i), run: { ...record(batch * 500 + i).run, status: 'success' } }, 0)));
    }
    // Closing folds the WAL in and empties it: what it grows to next is the pruning's.
    await seeding.close();
    const store = SqliteRunStore.open(path, { walRestartPages: 500 });
    let largestWal = 0;
    const watch = setInterval(() => (largestWal = Math.max(largestWal, walBytes(path))), 5);
    // Two prunes at once (a slow one overlapping the next interval's) both finish, one after the other.
    const [removed, again] = await Promise.all([store.pruneFinished(Date.now()), store.pruneFinished(Date.now())]);
    clearInterval(watch);
    expect(removed).toBe(20_000);
    expect(again).toBe(0);
    // 500 pages is 2 MB; a checkpoint's worth of deletes more may pile up before the pause.
    expect(largestWal).toBeLessThan(12 * 1024 * 1024);
    await store.close();
  });

  it('lets a process whose last work is closing the store finish closing it', () => {
    // The worker is unref'd while the store is open; closing must hold the process until it is done.
    const path = join(tempDir, 'last.db');
    const module = join(inject('rungateBuildDir'), 'store', 'sqlite-run-store.js');
    const script = `const { SqliteRunStore } = await import(${JSON.stringify(module)});
      const store = SqliteRunStore.open(${JSON.stringify(path)});
      await store.compareAndSet({ run: { id: 'exec_last', flowId: 'f', status: 'running', seq: 1, source: 'webhook' }, rev: 1, trackedAtMs: 0, updatedAtMs: 0 }, 0);
      await store.close();
      console.log('closed');`;
    const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(output.trim()).toBe('closed');
    expect(walBytes(path)).toBe(0);
  });

  it("goes back to SQLite's own checkpoints when the worker dies", async () => {
    const path = join(tempDir, 'orphan.db');
    const store = SqliteRunStore.open(path);
    const internals = store as unknown as { checkpointer: { worker: { terminate(): Promise<number> } } };
    await internals.checkpointer.worker.terminate();
    await new Promise((done) => setTimeout(done, 20));
    expect(autoCheckpointPages(store)).toBe(1000);
    await store.close();
  });

  it("goes back to SQLite's own checkpoints when asked to", async () => {
    const path = join(tempDir, 'inline.db');
    const store = SqliteRunStore.open(path, { backgroundCheckpoint: false });
    expect(autoCheckpointPages(store)).toBe(1000);
    await store.close();
  });
});
