import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { RunListener } from '../../../src/bus/run-bus.js';
import type { Run } from '../../../src/runs/run.js';
import type { RunRecord } from '../../../src/runs/run-record.js';
import type { RunListPage, RunListQuery } from '../../../src/store/run-store.js';
import { RESYNC_FLOW_RUNS, RESYNC_SKEW_MS, Resync, type FollowedRuns, type RunFollower } from '../../../src/tracking/resync.js';

function record(id: string, seq: number, options: { flowId?: string; status?: Run['status']; updatedAtMs?: number } = {}): RunRecord {
  return {
    run: { id, flowId: options.flowId ?? 'f', status: options.status ?? 'running', seq, source: 'poll' },
    rev: seq,
    trackedAtMs: 0,
    updatedAtMs: options.updatedAtMs ?? 0,
  };
}

/** The bus side Resync uses: the test fires changes and reconnects by hand. */
class FakeBus {
  readonly listeners = new Set<RunListener>();
  readonly resyncListeners = new Set<() => void>();
  subscribe(listener: RunListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  onResync(listener: () => void): () => void {
    this.resyncListeners.add(listener);
    return () => this.resyncListeners.delete(listener);
  }
  change(changed: RunRecord): void {
    for (const listener of this.listeners) listener(changed);
  }
  reconnect(): void {
    for (const listener of this.resyncListeners) listener();
  }
}

/** A store of records; `gate` makes reads wait until the test opens it. */
class FakeStore {
  readonly records = new Map<string, RunRecord>();
  readonly reads: string[] = [];
  readonly lists: RunListQuery[] = [];
  failGets = false;
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;

  close(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }
  open(): void {
    this.openGate?.();
    this.gate = undefined;
  }
  async get(id: string): Promise<RunRecord | undefined> {
    this.reads.push(id);
    await this.gate;
    if (this.failGets) throw new Error('store down');
    return this.records.get(id);
  }
  async list(query: RunListQuery): Promise<RunListPage> {
    this.lists.push(query);
    await this.gate;
    const all = [...this.records.values()].filter((r) => query.flowId === undefined || r.run.flowId === query.flowId);
    return { records: all.slice(0, query.limit) };
  }
}

class FakeCache {
  drops = 0;
  dropUnfinished(): number {
    this.drops++;
    return 0;
  }
}

class FakeWaiters {
  readonly offered: RunRecord[] = [];
  constructor(readonly waited: string[] = []) {}
  waitedRunIds(): string[] {
    return this.waited;
  }
  offer(found: RunRecord): void {
    this.offered.push(found);
  }
}

class FakeFollower implements RunFollower {
  readonly offered: RunRecord[] = [];
  constructor(public follows: FollowedRuns = { runIds: [], flowIds: [] }) {}
  followed(): FollowedRuns {
    return this.follows;
  }
  offer(found: RunRecord): void {
    this.offered.push(found);
  }
}

function setup(options: { waited?: string[]; nowMs?: number } = {}) {
  const clock = { nowMs: options.nowMs ?? 100_000 };
  const bus = new FakeBus();
  const store = new FakeStore();
  const cache = new FakeCache();
  const waiters = new FakeWaiters(options.waited);
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  const resync = new Resync({ bus, store, cache, waiters, logger, now: () => clock.nowMs });
  return { clock, bus, store, cache, waiters, lines, resync };
}

describe('Resync', () => {
  it('on a bus reconnect drops stale cache entries, answers waiting readers, and resyncs followers', async () => {
    const { bus, store, cache, waiters, lines, resync } = setup({ waited: ['exec_w', 'exec_gone'] });
    store.records.set('exec_w', record('exec_w', 3, { status: 'success' }));
    store.records.set('exec_1', record('exec_1', 2));
    const follower = new FakeFollower({ runIds: ['exec_1', 'exec_missing'], flowIds: [] });
    resync.addFollower(follower);

    bus.reconnect();
    await resync.trigger('settled'); // queued after the reconnect's pass: resolves once both ran

    expect(cache.drops).toBe(2);
    expect(waiters.offered.map((r) => r.run.id)).toEqual(['exec_w', 'exec_w']);
    expect(follower.offered.map((r) => r.run.id)).toEqual(['exec_1', 'exec_1']);
    expect(lines.filter((line) => line.msg === 'resynchronised subscribers from the store')).toHaveLength(2);
  });

  it("rereads a followed flow's newest runs written since the last bus change, less the skew", async () => {
    const { clock, bus, store, resync } = setup({ nowMs: 100_000 });
    const follower = new FakeFollower({ runIds: [], flowIds: ['f', '*'] });
    resync.addFollower(follower);
    clock.nowMs = 200_000;
    bus.change(record('exec_seen', 1));
    const since = 200_000 - RESYNC_SKEW_MS;
    store.records.set('exec_old', record('exec_old', 1, { updatedAtMs: since - 1 }));
    store.records.set('exec_new', record('exec_new', 1, { updatedAtMs: since }));
    store.records.set('exec_other', record('exec_other', 1, { flowId: 'g', updatedAtMs: since + 10 }));

    await resync.trigger('test');

    expect(store.lists).toEqual([{ flowId: 'f', limit: RESYNC_FLOW_RUNS }, { limit: RESYNC_FLOW_RUNS }]);
    // Each record once, whichever subscriptions found it.
    expect(follower.offered.map((r) => r.run.id).sort()).toEqual(['exec_new', 'exec_other']);
  });

  it('moves its mark to the resync itself, so the next one rereads only what came after', async () => {
    const { clock, store, resync } = setup({ nowMs: 100_000 });
    const follower = new FakeFollower({ runIds: ['exec_1'], flowIds: ['f'] });
    resync.addFollower(follower);
    store.records.set('exec_1', record('exec_1', 1, { updatedAtMs: 96_000 }));
    clock.nowMs = 150_000; // no bus change since the start: the mark is still at 100 s
    await resync.trigger('first');
    expect(follower.offered.map((r) => r.run.id)).toEqual(['exec_1']);
    follower.follows = { runIds: [], flowIds: ['f'] };
    await resync.trigger('second');
    expect(follower.offered.map((r) => r.run.id)).toEqual(['exec_1']);
  });

  it('never runs two passes at once: triggers during a pass share one more pass after it', async () => {
    const { store, cache, resync } = setup();
    const follower = new FakeFollower({ runIds: ['exec_1'], flowIds: [] });
    resync.addFollower(follower);
    store.records.set('exec_1', record('exec_1', 1));
    store.close();
    const first = resync.trigger('bus reconnected');
    const second = resync.trigger('store reset');
    const third = resync.trigger('store reset');
    expect(third).toBe(second);
    await Promise.resolve();
    expect(store.reads).toEqual(['exec_1']);
    store.open();
    await Promise.all([first, second, third]);
    expect(cache.drops).toBe(2);
    expect(store.reads).toEqual(['exec_1', 'exec_1']);
    expect(follower.offered).toHaveLength(2);
  });

  it('logs a failing reread and still finishes the other parts', async () => {
    const { store, waiters, lines, resync } = setup({ waited: ['exec_w'] });
    store.failGets = true;
    const follower = new FakeFollower({ runIds: [], flowIds: ['f'] });
    resync.addFollower(follower);
    store.records.set('exec_1', record('exec_1', 1, { updatedAtMs: 100_000 }));
    await expect(resync.trigger('test')).resolves.toBeUndefined();
    expect(waiters.offered).toEqual([]);
    expect(follower.offered.map((r) => r.run.id)).toEqual(['exec_1']);
    expect(lines.find((line) => line.msg === 'rechecking waiting readers failed')).toMatchObject({ reason: 'test' });
  });

  it('after close it neither listens to the bus nor runs passes', async () => {
    const { bus, cache, resync } = setup();
    const follower = new FakeFollower();
    const remove = resync.addFollower(follower);
    remove();
    resync.close();
    expect(bus.listeners.size).toBe(0);
    expect(bus.resyncListeners.size).toBe(0);
    bus.reconnect();
    await resync.trigger('late');
    expect(cache.drops).toBe(0);
  });
});
