import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MemoryRunBus } from '../../../src/bus/memory-run-bus.js';
import { RunCache } from '../../../src/cache/run-cache.js';
import type { RunRecord } from '../../../src/runs/run-record.js';
import { MemoryRunStore } from '../../../src/store/memory-run-store.js';
import type { FollowedRuns } from '../../../src/tracking/resync.js';
import { RunLedger } from '../../../src/tracking/run-ledger.js';
import { RunWriter } from '../../../src/tracking/run-writer.js';
import { StoreReseed } from '../../../src/tracking/store-reseed.js';
import { seqFloor } from '../../../src/runs/seq-rule.js';

/** One instance's write path over a shared (emptied) store, with what it saw before the loss. */
function instance(store: MemoryRunStore, bus: MemoryRunBus) {
  const cache = new RunCache({ finalTtlSeconds: 60, activeTtlSeconds: 60, maxRuns: 100 });
  const ledger = new RunLedger({ maxRuns: 100, cache });
  bus.subscribe((record) => {
    cache.set(record);
    ledger.observe(record);
  });
  const writer = new RunWriter(store, cache, bus, pino({ level: 'silent' }), { ledger });
  return { cache, ledger, writer };
}

describe('StoreReseed', () => {
  it('gives an emptied store back every copy, the followed runs no copy covers, and the owners subscriptions prove', async () => {
    const before = new MemoryRunStore();
    const bus = new MemoryRunBus();
    const a = instance(before, bus);
    await a.writer.apply({ id: 'exec_1', flowId: 'f', status: 'running' }, 'poll', { owner: 'alice' });
    await a.writer.apply({ id: 'exec_2', flowId: 'f', status: 'success' }, 'webhook', { owner: 'bob' });
    await a.writer.apply({ id: 'exec_3', flowId: 'f', status: 'queued' }, 'request');

    // The store comes back empty; this instance writes into the new one.
    const after = new MemoryRunStore();
    const writer = new RunWriter(after, a.cache, bus, pino({ level: 'silent' }), { ledger: a.ledger, seqFloor: () => seqFloor(1) });
    const lookedUp: string[] = [];
    const followed: FollowedRuns = { runIds: ['exec_1', 'exec_9'], flowIds: [], owners: new Map([['exec_3', 'carol'], ['exec_9', 'dave']]) };
    const reseed = new StoreReseed({
      writer,
      ledger: a.ledger,
      lookup: {
        findLocal: (id) => after.get(id),
        find: async (id) => {
          lookedUp.push(id);
          const result = await writer.apply({ id, flowId: 'f', status: 'running' }, 'request');
          return result.record;
        },
      },
      resync: { followed: () => followed, trigger: () => Promise.resolve() },
      reschedule: () => Promise.resolve(0),
      logger: pino({ level: 'silent' }),
    });
    const summary = await reseed.reseed();
    expect(summary).toEqual({ copies: 3, restored: 3, annotated: 0, kept: 0, lookedUp: 1, ownersLearnt: 2, failed: 0 });
    expect(lookedUp).toEqual(['exec_9']);
    expect((await after.get('exec_1'))).toMatchObject({ owner: 'alice', run: { status: 'running', seq: 1 } });
    expect((await after.get('exec_2'))).toMatchObject({ owner: 'bob', run: { status: 'success', seq: 1 } });
    expect((await after.get('exec_3'))?.owner).toBe('carol');
    // Looked up after the loss: a seq above the floor, and its owner from the subscription.
    expect((await after.get('exec_9'))).toMatchObject({ owner: 'dave', run: { seq: seqFloor(1) + 1 } });
    // Unfinished runs go back first: they still need polling.
    expect((await after.listUnfinished()).map((record) => record.run.id).sort()).toEqual(['exec_1', 'exec_3', 'exec_9']);

    // Re-seeding again (as another instance would) finds it done; the looked-up run is held now too.
    const again = await reseed.reseed();
    expect(again).toMatchObject({ copies: 4, restored: 0, kept: 4, lookedUp: 0, ownersLearnt: 0 });
  });

  it('counts a write that fails and goes on with the others', async () => {
    const store = new MemoryRunStore();
    const bus = new MemoryRunBus();
    const a = instance(store, bus);
    await a.writer.apply({ id: 'exec_1', flowId: 'f', status: 'running' }, 'poll');
    await a.writer.apply({ id: 'exec_2', flowId: 'f', status: 'running' }, 'poll');
    let calls = 0;
    const failing = {
      restore: (copy: RunRecord) => (++calls === 1 ? Promise.reject(new Error('boom')) : a.writer.restore(copy)),
      apply: a.writer.apply.bind(a.writer),
    };
    const reseed = new StoreReseed({
      writer: failing,
      ledger: a.ledger,
      lookup: { findLocal: (id) => store.get(id), find: (id) => store.get(id) },
      resync: { followed: () => ({ runIds: [], flowIds: [] }), trigger: () => Promise.resolve() },
      reschedule: () => Promise.resolve(0),
      logger: pino({ level: 'silent' }),
    });
    expect(await reseed.reseed()).toMatchObject({ copies: 2, failed: 1, kept: 1 });
  });
});

describe('StoreReseed.recover', () => {
  it('re-seeds, then puts unfinished runs back on the poll schedule, then has subscribers caught up', async () => {
    const store = new MemoryRunStore();
    const bus = new MemoryRunBus();
    const a = instance(store, bus);
    await a.writer.apply({ id: 'exec_1', flowId: 'f', status: 'running' }, 'poll');
    const steps: string[] = [];
    const step = <T>(name: string, then: () => Promise<T>): Promise<T> => {
      steps.push(name);
      return then();
    };
    const reseed = new StoreReseed({
      writer: { restore: (copy) => step('restore', () => a.writer.restore(copy)), apply: a.writer.apply.bind(a.writer) },
      ledger: a.ledger,
      lookup: { findLocal: (id) => store.get(id), find: (id) => store.get(id) },
      resync: { followed: () => ({ runIds: [], flowIds: [] }), trigger: (reason) => step(`resync: ${reason}`, () => Promise.resolve()) },
      reschedule: () => step('reschedule', () => Promise.resolve(1)),
      logger: pino({ level: 'silent' }),
    });
    expect(await reseed.recover()).toMatchObject({ copies: 1, kept: 1, pollsScheduled: 1 });
    expect(steps).toEqual(['restore', 'reschedule', 'resync: store reset']);
  });
});
