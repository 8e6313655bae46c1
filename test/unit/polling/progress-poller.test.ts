import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryRunBus } from '../../../src/bus/memory-run-bus.js';
import { RunCache } from '../../../src/cache/run-cache.js';
import { GatewayMetrics } from '../../../src/metrics/gateway-metrics.js';
import { ProgressPoller } from '../../../src/polling/progress-poller.js';
import type { Execution, RunStatus } from '../../../src/runs/run.js';
import { MemoryRunStore } from '../../../src/store/memory-run-store.js';
import type { FollowedRuns } from '../../../src/tracking/resync.js';
import { RunWriter } from '../../../src/tracking/run-writer.js';

describe('ProgressPoller', () => {
  let nowMs: number;
  let store: MemoryRunStore;
  let bus: MemoryRunBus;
  let writer: RunWriter;
  let watched: FollowedRuns;
  let gets: string[];
  let upstreamStatus: Map<string, { status: RunStatus; percentage: number }>;
  let progress: ProgressPoller;
  const open: ProgressPoller[] = [];

  function poller(options: { intervalMs?: number; perMinute?: number } = {}): ProgressPoller {
    const created = new ProgressPoller(
      {
        bus, store, writer, metrics: new GatewayMetrics(), logger: pino({ level: 'silent' }), now: () => nowMs,
        watched: () => watched,
        upstream: {
          getRun: (id: string): Promise<Execution> => {
            gets.push(id);
            const state = upstreamStatus.get(id) ?? { status: 'running', percentage: 50 };
            return Promise.resolve({ id, flowId: 'f', status: state.status, progress: { step: 'extract', percentage: state.percentage } });
          },
        },
      },
      { intervalMs: options.intervalMs ?? 1000, perMinute: options.perMinute ?? 600 },
    );
    open.push(created);
    return created;
  }

  /** One tick, then the polls it started (and their writes) settle. */
  async function tickAt(ms: number): Promise<void> {
    nowMs = ms;
    progress.tick();
    await new Promise((resolve) => setImmediate(resolve));
  }

  beforeEach(() => {
    nowMs = 1_000_000;
    store = new MemoryRunStore();
    bus = new MemoryRunBus();
    writer = new RunWriter(store, new RunCache({ finalTtlSeconds: 60, activeTtlSeconds: 60, maxRuns: 1000 }), bus, pino({ level: 'silent' }), { now: () => nowMs });
    watched = { runIds: [], flowIds: [] };
    gets = [];
    upstreamStatus = new Map();
    progress = poller();
  });
  afterEach(() => {
    for (const p of open.splice(0)) p.close();
  });

  it('polls a watched run about every interval — one poll however many watch it — and writes running with progress', async () => {
    await writer.apply({ id: 'exec_1', flowId: 'f', status: 'queued' }, 'request');
    watched = { runIds: Array.from({ length: 10 }, () => 'exec_1'), flowIds: ['f', 'f'] };
    await tickAt(1_000_500);
    expect(gets).toEqual([]); // heard of at 1 000 000: first poll one interval later
    await tickAt(1_001_000);
    expect(gets).toEqual(['exec_1']);
    expect((await store.get('exec_1'))!.run).toMatchObject({ status: 'running', source: 'poll', progress: { percentage: 50 } });
    await tickAt(1_001_500);
    expect(gets).toHaveLength(1);
    upstreamStatus.set('exec_1', { status: 'running', percentage: 80 });
    await tickAt(1_002_000);
    expect(gets).toHaveLength(2);
    expect((await store.get('exec_1'))!.run.progress).toEqual({ step: 'extract', percentage: 80 });
  });

  it('costs nothing for runs nobody watches, and stops when the last watcher leaves or the run ends', async () => {
    await writer.apply({ id: 'exec_1', flowId: 'f', status: 'running' }, 'request');
    await writer.apply({ id: 'exec_2', flowId: 'g', status: 'running' }, 'request');
    watched = { runIds: ['exec_1'], flowIds: [] };
    await tickAt(1_001_000);
    expect(gets).toEqual(['exec_1']);
    watched = { runIds: [], flowIds: [] };
    await tickAt(1_002_000);
    expect(gets).toEqual(['exec_1']);
    watched = { runIds: ['exec_1'], flowIds: [] };
    await writer.apply({ id: 'exec_1', flowId: 'f', status: 'success' }, 'webhook');
    await tickAt(1_003_000);
    expect(gets).toEqual(['exec_1']);
  });

  it('counts flow subscribers and * as watchers of their runs', async () => {
    await writer.apply({ id: 'exec_1', flowId: 'f', status: 'running' }, 'request');
    await writer.apply({ id: 'exec_2', flowId: 'g', status: 'running' }, 'request');
    watched = { runIds: [], flowIds: ['g'] };
    await tickAt(1_001_000);
    expect(gets).toEqual(['exec_2']);
    watched = { runIds: [], flowIds: ['*'] };
    await tickAt(1_002_000);
    expect(new Set(gets.slice(1))).toEqual(new Set(['exec_1', 'exec_2']));
  });

  it('a poll answer from anywhere (another instance, the fallback poller) postpones the next progress poll', async () => {
    await writer.apply({ id: 'exec_1', flowId: 'f', status: 'running' }, 'request');
    watched = { runIds: ['exec_1'], flowIds: [] };
    nowMs = 1_000_900;
    await writer.apply({ id: 'exec_1', flowId: 'f', status: 'running', progress: { step: 'parse', percentage: 10 } }, 'poll');
    await tickAt(1_001_000);
    expect(gets).toEqual([]);
    await tickAt(1_001_900);
    expect(gets).toEqual(['exec_1']);
  });

  it('stays within its per-minute budget, least recently polled first', async () => {
    progress.close();
    progress = poller({ intervalMs: 100, perMinute: 2 });
    for (const id of ['exec_1', 'exec_2', 'exec_3']) await writer.apply({ id, flowId: 'f', status: 'running' }, 'request');
    watched = { runIds: [], flowIds: ['f'] };
    await tickAt(1_000_100);
    await tickAt(1_000_200);
    await tickAt(1_000_300);
    expect(gets).toHaveLength(2);
    // 30 s later one more token has come: the run not polled yet goes first.
    await tickAt(1_030_300);
    expect(gets).toHaveLength(3);
    expect(new Set(gets)).toEqual(new Set(['exec_1', 'exec_2', 'exec_3']));
  });

  it('polls runs found unfinished in the store at start at once, when watched', async () => {
    await writer.apply({ id: 'exec_old', flowId: 'f', status: 'running' }, 'request');
    progress.close();
    progress = poller();
    const fresh = new ProgressPoller(
      { bus: new MemoryRunBus(), store, writer, metrics: new GatewayMetrics(), logger: pino({ level: 'silent' }), now: () => nowMs, watched: () => ({ runIds: ['exec_old'], flowIds: [] }),
        upstream: { getRun: (id: string) => { gets.push(id); return Promise.resolve({ id, flowId: 'f', status: 'running' }); } } },
      { intervalMs: 1000, perMinute: 60 },
    );
    open.push(fresh);
    await fresh.start();
    fresh.tick();
    expect(gets).toEqual(['exec_old']);
  });
});
