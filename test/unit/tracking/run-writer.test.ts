import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MemoryRunBus } from '../../../src/bus/memory-run-bus.js';
import { RunCache } from '../../../src/cache/run-cache.js';
import { RunWriter } from '../../../src/tracking/run-writer.js';
import { MemoryRunStore } from '../../../src/store/memory-run-store.js';
import type { RunRecord } from '../../../src/runs/run-record.js';
import { StoreResetError } from '../../../src/errors.js';
import { seqFloor } from '../../../src/runs/seq-rule.js';
import { RunLedger } from '../../../src/tracking/run-ledger.js';
import type { RunListPage, RunListQuery, RunStore, UnfinishedCounts, UnfinishedRun } from '../../../src/store/run-store.js';

function setup() {
  const store = new MemoryRunStore();
  const bus = new MemoryRunBus();
  const published: RunRecord[] = [];
  bus.subscribe((record) => published.push(record));
  const changed: RunRecord[] = [];
  const writer = new RunWriter(store, new RunCache({ finalTtlSeconds: 60, activeTtlSeconds: 60, maxRuns: 100 }), bus, pino({ level: 'silent' }), { onChanged: (r) => changed.push(r) });
  return { store, writer, published, changed };
}

describe('RunWriter', () => {
  it('publishes each accepted change once and ignores duplicates', async () => {
    const { writer, published, changed } = setup();
    await writer.apply({ id: 'exec_1', flowId: 'f', status: 'queued' }, 'request');
    await writer.apply({ id: 'exec_1', status: 'success' }, 'webhook');
    await writer.apply({ id: 'exec_1', status: 'success' }, 'webhook');
    await writer.apply({ id: 'exec_1', status: 'running' }, 'poll');
    expect(published.map((r) => [r.run.status, r.run.seq])).toEqual([['queued', 1], ['success', 2]]);
    expect(changed).toHaveLength(2);
  });

  it("republishes with the same seq when a late start answer brings the run's owner", async () => {
    const { writer, published, changed, store } = setup();
    await writer.apply({ id: 'exec_2', flowId: 'f', status: 'success' }, 'webhook');
    const result = await writer.apply({ id: 'exec_2', flowId: 'f', status: 'queued' }, 'request', { owner: 'alice', startedHere: true });
    expect(result.kind).toBe('annotated');
    expect(published.map((r) => [r.run.seq, r.owner])).toEqual([[1, undefined], [1, 'alice']]);
    expect(changed).toHaveLength(1);
    expect((await store.get('exec_2'))!.owner).toBe('alice');
  });

  it('keeps exactly one winner when writers race on one run', async () => {
    const { writer, published, store } = setup();
    await writer.apply({ id: 'exec_3', flowId: 'f', status: 'queued' }, 'request');
    await Promise.all([
      writer.apply({ id: 'exec_3', status: 'running', progress: { step: 's', percentage: 10 } }, 'poll'),
      writer.apply({ id: 'exec_3', status: 'success' }, 'webhook'),
      writer.apply({ id: 'exec_3', status: 'failed' }, 'poll'),
      writer.apply({ id: 'exec_3', status: 'running', progress: { step: 's', percentage: 90 } }, 'poll'),
    ]);
    const finals = published.filter((r) => ['success', 'failed'].includes(r.run.status));
    expect(finals).toHaveLength(1);
    const seqs = published.map((r) => r.run.seq);
    expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
    expect((await store.get('exec_3'))!.run.status).toBe(finals[0]!.run.status);
  });
});

/** A memory store that can lose everything, and whose writes can be refused as reset, like a shared store. */
class ResettableStore implements RunStore {
  readonly kind = 'memory' as const;
  refuseNext = 0;
  private inner = new MemoryRunStore();

  /** Everything is gone, as after a restart without persistence. */
  lose(): void {
    this.inner = new MemoryRunStore();
  }
  get(id: string): Promise<RunRecord | undefined> {
    return this.inner.get(id);
  }
  compareAndSet(next: RunRecord, expectedRev: number): Promise<boolean> {
    if (this.refuseNext > 0) {
      this.refuseNext--;
      return Promise.reject(new StoreResetError('mark-1'));
    }
    return this.inner.compareAndSet(next, expectedRev);
  }
  list(query: RunListQuery): Promise<RunListPage> {
    return this.inner.list(query);
  }
  listUnfinished(): Promise<RunRecord[]> {
    return this.inner.listUnfinished();
  }
  unfinishedBatches(batchSize: number): AsyncIterable<UnfinishedRun[]> {
    return this.inner.unfinishedBatches(batchSize);
  }
  countUnfinished(): Promise<UnfinishedCounts> {
    return this.inner.countUnfinished();
  }
  listDueDeliveries(nowMs: number, limit: number): Promise<string[]> {
    return this.inner.listDueDeliveries(nowMs, limit);
  }
  countPendingDeliveries(): Promise<number> {
    return this.inner.countPendingDeliveries();
  }
  pruneFinished(beforeMs: number): Promise<number> {
    return this.inner.pruneFinished(beforeMs);
  }
  ping(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function clusterSetup(floor = 0) {
  const store = new ResettableStore();
  const bus = new MemoryRunBus();
  const published: RunRecord[] = [];
  bus.subscribe((record) => published.push(record));
  const cache = new RunCache({ finalTtlSeconds: 60, activeTtlSeconds: 60, maxRuns: 100 });
  const ledger = new RunLedger({ maxRuns: 100, cache });
  bus.subscribe((record) => ledger.observe(record));
  let generationFloor = floor;
  const confirmations: StoreResetError[] = [];
  const writer = new RunWriter(store, cache, bus, pino({ level: 'silent' }), {
    ledger,
    seqFloor: () => generationFloor,
    onStoreReset: (error) => {
      confirmations.push(error);
      generationFloor = seqFloor(1);
      return Promise.resolve();
    },
  });
  return { store, cache, ledger, writer, published, confirmations };
}

describe('RunWriter as the store\'s one writer (cache first)', () => {
  function soleWriter() {
    const store = new MemoryRunStore();
    const cache = new RunCache({ finalTtlSeconds: 60, activeTtlSeconds: 60, maxRuns: 2 });
    const reads: string[] = [];
    const get = store.get.bind(store);
    store.get = (id: string) => {
      reads.push(id);
      return get(id);
    };
    const bus = new MemoryRunBus();
    const published: RunRecord[] = [];
    bus.subscribe((record) => published.push(record));
    const writer = new RunWriter(store, cache, bus, pino({ level: 'silent' }), { readCacheFirst: true });
    return { store, writer, reads, published };
  }

  it('writes a run it has not cached as new without reading the store', async () => {
    const { writer, reads, published } = soleWriter();
    const result = await writer.apply({ id: 'exec_new', flowId: 'f', status: 'running' }, 'webhook');
    expect(result.kind).toBe('changed');
    expect(reads).toEqual([]);
    expect(published.map((r) => r.run.seq)).toEqual([1]);
  });

  it('merges news of a stored run the cache no longer holds: no second insert, seq goes on, duplicates stay duplicates', async () => {
    const { writer, reads, published, store } = soleWriter();
    await writer.apply({ id: 'exec_old', flowId: 'f', status: 'running' }, 'webhook');
    // Two more runs push exec_old out of a cache of two.
    await writer.apply({ id: 'exec_b', flowId: 'f', status: 'running' }, 'webhook');
    await writer.apply({ id: 'exec_c', flowId: 'f', status: 'running' }, 'webhook');
    const done = await writer.apply({ id: 'exec_old', status: 'success' }, 'webhook');
    expect(done.kind).toBe('changed');
    expect(reads).toContain('exec_old');
    expect((await store.get('exec_old'))!.run).toMatchObject({ status: 'success', seq: 2, flowId: 'f' });
    await writer.apply({ id: 'exec_b', flowId: 'f', status: 'running' }, 'webhook');
    await writer.apply({ id: 'exec_c', flowId: 'f', status: 'running' }, 'webhook');
    const again = await writer.apply({ id: 'exec_old', flowId: 'f', status: 'success' }, 'webhook');
    expect(again.kind).toBe('unchanged');
    // News without a flowId, of a run not cached, is not refused as an invalid new run.
    const bare = await writer.apply({ id: 'exec_b', status: 'success' }, 'webhook');
    expect(bare.kind).toBe('changed');
    expect(published.filter((r) => r.run.id === 'exec_old').map((r) => [r.run.status, r.run.seq])).toEqual([['running', 1], ['success', 2]]);
  });
});

describe('RunWriter as the store\'s one writer: bad news', () => {
  it('refuses news of an unknown run that is no valid new run, and stores nothing', async () => {
    const store = new MemoryRunStore();
    const writer = new RunWriter(store, new RunCache({ finalTtlSeconds: 60, activeTtlSeconds: 60, maxRuns: 10 }), new MemoryRunBus(), pino({ level: 'silent' }), { readCacheFirst: true });
    expect((await writer.apply({ id: 'exec_nobody', status: 'running' }, 'webhook')).kind).toBe('invalid');
    expect((await writer.apply({ id: 'exec_nobody', flowId: 'f', status: 'exploded' }, 'webhook')).kind).toBe('invalid');
    expect((await writer.apply({ id: '../etc', flowId: 'f', status: 'running' }, 'webhook')).kind).toBe('invalid');
    expect(await store.get('exec_nobody')).toBeUndefined();
    expect((await store.list({ limit: 10 })).records).toEqual([]);
  });
});

describe('RunWriter across a store reset', () => {
  it('has a refused write confirmed, then writes it above the new generation floor', async () => {
    const { store, writer, confirmations } = clusterSetup();
    store.refuseNext = 1;
    const result = await writer.apply({ id: 'exec_r1', flowId: 'f', status: 'queued' }, 'request');
    expect(confirmations).toHaveLength(1);
    expect(result.kind).toBe('changed');
    expect(result.record?.run.seq).toBe(seqFloor(1) + 1);
  });

  it('builds news about a run the store lost on the copy it still holds: owner kept, seq above what subscribers hold', async () => {
    const { store, writer, published } = clusterSetup();
    await writer.apply({ id: 'exec_r2', flowId: 'f', status: 'queued' }, 'request', { owner: 'alice', startedHere: true });
    await writer.apply({ id: 'exec_r2', status: 'running' }, 'poll');
    const before = (await store.get('exec_r2'))!;
    // The store loses everything; the next write is refused until the new mark is known.
    store.lose();
    store.refuseNext = 1;
    const result = await writer.apply({ id: 'exec_r2', status: 'completed', output: { a: 1 } }, 'webhook');
    expect(result.kind).toBe('changed');
    const after = (await store.get('exec_r2'))!;
    expect(after.run).toMatchObject({ status: 'success', seq: seqFloor(1) + 1, source: 'webhook', output: { a: 1 } });
    expect(after.run.seq).toBeGreaterThan(before.run.seq);
    expect(after).toMatchObject({ owner: 'alice', startedHere: true, trackedAtMs: before.trackedAtMs });
    expect(published.at(-1)).toEqual(after);
  });

  it('gives a run recreated without a copy the owner the ledger still knows', async () => {
    const { store, cache, writer } = clusterSetup();
    await writer.apply({ id: 'exec_r3', flowId: 'f', status: 'queued' }, 'request', { owner: 'bob' });
    await writer.apply({ id: 'exec_r3', status: 'success' }, 'webhook');
    store.lose();
    cache.close();
    const result = await writer.apply({ id: 'exec_r3', flowId: 'f', status: 'success' }, 'request');
    expect(result.record?.owner).toBe('bob');
  });

  it('writes a held copy back unchanged when the news adds nothing, and restores through compare-and-set', async () => {
    const { store, writer, published } = clusterSetup();
    await writer.apply({ id: 'exec_r4', flowId: 'f', status: 'running' }, 'poll', { owner: 'carol' });
    const held = (await store.get('exec_r4'))!;
    store.lose();
    const duplicate = await writer.apply({ id: 'exec_r4', status: 'running' }, 'poll');
    expect(duplicate.kind).toBe('unchanged');
    expect((await store.get('exec_r4'))!.run).toEqual(held.run);
    // A second copy of the same state changes nothing more.
    expect((await writer.restore(held)).kind).toBe('unchanged');
    store.lose();
    const restored = await writer.restore(held);
    expect(restored.kind).toBe('restored');
    expect(restored.record?.run).toEqual(held.run);
    expect(published.filter((record) => record.run.id === 'exec_r4').map((record) => record.run.seq)).toEqual([1, 1, 1]);
  });
});
