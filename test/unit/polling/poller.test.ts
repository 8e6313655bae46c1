import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemoryRunBus } from '../../../src/bus/memory-run-bus.js';
import { RunCache } from '../../../src/cache/run-cache.js';
import { GatewayMetrics } from '../../../src/metrics/gateway-metrics.js';
import { RecoveryPlanner } from '../../../src/polling/recovery-planner.js';
import { HeapPollSchedule } from '../../../src/polling/heap-poll-schedule.js';
import { Poller } from '../../../src/polling/poller.js';
import type { Execution } from '../../../src/runs/run.js';
import { RunWriter } from '../../../src/tracking/run-writer.js';
import { MemoryRunStore } from '../../../src/store/memory-run-store.js';
import { UpstreamError } from '../../../src/upstream/upstream-error.js';
import type { Upstream } from '../../../src/upstream/upstream.js';
import type { ForwardAnswer } from '../../../src/upstream/upstream.js';

/** A hand-written upstream whose answers the test sets per run. */
class FakeUpstream implements Upstream {
  readonly gets: string[] = [];
  inFlight = 0;
  maxInFlight = 0;
  answer: (id: string) => Promise<Execution> = (id) => Promise.resolve({ id, flowId: 'f', status: 'running' });
  startRun(): Promise<Execution> {
    throw new Error('not used');
  }
  cancelRun(): Promise<Execution> {
    throw new Error('not used');
  }
  forward(): Promise<ForwardAnswer> {
    throw new Error('not used');
  }
  async getRun(id: string): Promise<Execution> {
    this.gets.push(id);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      return await this.answer(id);
    } finally {
      this.inFlight--;
    }
  }
  rateBudget() {
    return {};
  }
  close() {}
}

describe('Poller', () => {
  let store: MemoryRunStore;
  let bus: MemoryRunBus;
  let writer: RunWriter;
  let upstream: FakeUpstream;
  let poller: Poller;
  let metrics: GatewayMetrics;

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
    store = new MemoryRunStore();
    bus = new MemoryRunBus();
    const logger = pino({ level: 'silent' });
    writer = new RunWriter(store, new RunCache({ finalTtlSeconds: 60, activeTtlSeconds: 60, maxRuns: 1000 }), bus, logger);
    upstream = new FakeUpstream();
    metrics = new GatewayMetrics();
    poller = new Poller(
      { store, writer, upstream, schedule: new HeapPollSchedule(), planner: new RecoveryPlanner({ defaultMs: 6000, minMs: 1000, maxMs: 60_000 }), bus, metrics, logger, random: () => 0.5 },
      { intervalMs: 2000, maxIntervalMs: 30_000, maxAgeMs: 60_000, concurrency: 2 },
    );
  });

  afterEach(async () => {
    await poller.close();
    vi.useRealTimers();
  });

  it('polls first after the grace, then thins out, and stops at a final state', async () => {
    await writer.apply({ id: 'exec_1', flowId: 'f', status: 'queued' }, 'request', { startedHere: true });
    await vi.advanceTimersByTimeAsync(5900);
    expect(upstream.gets).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(200);
    expect(upstream.gets).toHaveLength(1);
    // Polled at 6 s, tracked for 6 s then: next in max(2 s, 3 s) = 3 s, at 9 s.
    await vi.advanceTimersByTimeAsync(2800);
    expect(upstream.gets).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(200);
    expect(upstream.gets).toHaveLength(2);
    upstream.answer = (id) => Promise.resolve({ id, flowId: 'f', status: 'success' });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(upstream.gets).toHaveLength(3);
    expect((await store.get('exec_1'))!.run).toMatchObject({ status: 'success', source: 'poll' });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(upstream.gets).toHaveLength(3);
  });

  it('defers a first poll when what finished meanwhile shows the flow takes longer', async () => {
    await writer.apply({ id: 'exec_slow', flowId: 'f', status: 'queued' }, 'request', { startedHere: true });
    // Twenty runs of this flow finish in 10 s each while exec_slow waits for its first poll.
    for (let i = 0; i < 20; i++) {
      await writer.apply({ id: `exec_done${i}`, flowId: 'f', status: 'queued' }, 'request');
      await writer.apply({ id: `exec_done${i}`, status: 'success', duration: 10_000 }, 'webhook');
    }
    await vi.advanceTimersByTimeAsync(6100);
    expect(upstream.gets).toEqual([]);
    await vi.advanceTimersByTimeAsync(10_000 * 1.25 + 250 - 6100 + 200);
    expect(upstream.gets).toEqual(['exec_slow']);
  });

  it('never polls a run whose final state came by webhook', async () => {
    await writer.apply({ id: 'exec_2', flowId: 'f', status: 'queued' }, 'request', { startedHere: true });
    await vi.advanceTimersByTimeAsync(3000);
    await writer.apply({ id: 'exec_2', status: 'success' }, 'webhook');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(upstream.gets).toHaveLength(0);
  });

  it('marks a run stale when upstream forgets it, and at max age', async () => {
    upstream.answer = () => Promise.reject(new UpstreamError({ status: 404, code: 'EXECUTION_NOT_FOUND', message: 'gone' }));
    await writer.apply({ id: 'exec_gone', flowId: 'f', status: 'running' }, 'request');
    await vi.advanceTimersByTimeAsync(7000);
    expect((await store.get('exec_gone'))!.run).toMatchObject({ status: 'running', stale: true, seq: 2 });

    upstream.answer = (id) => Promise.resolve({ id, flowId: 'f', status: 'running' });
    await writer.apply({ id: 'exec_old', flowId: 'f', status: 'running' }, 'request');
    await vi.advanceTimersByTimeAsync(70_000);
    const polls = upstream.gets.filter((id) => id === 'exec_old').length;
    expect((await store.get('exec_old'))!.run.stale).toBe(true);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(upstream.gets.filter((id) => id === 'exec_old').length).toBe(polls);
    const text = (await metrics.render()).body;
    expect(text).toMatch(/rungate_runs_stale_total 2/);
  });

  it('retries after upstream errors, honouring Retry-After', async () => {
    let failures = 0;
    upstream.answer = (id) => {
      if (failures++ === 0) return Promise.reject(new UpstreamError({ status: 429, code: 'RATE_LIMITED', message: 'slow down', retryAfterMs: 20_000 }));
      return Promise.resolve({ id, flowId: 'f', status: 'success' });
    };
    await writer.apply({ id: 'exec_3', flowId: 'f', status: 'queued' }, 'request');
    await vi.advanceTimersByTimeAsync(6100);
    expect(upstream.gets).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(19_000);
    expect(upstream.gets).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1500);
    expect(upstream.gets).toHaveLength(2);
    expect((await store.get('exec_3'))!.run.status).toBe('success');
  });

  it('keeps at most `concurrency` polls in flight', async () => {
    upstream.answer = (id) => new Promise((resolve) => setTimeout(() => resolve({ id, flowId: 'f', status: 'success' }), 500));
    for (let i = 0; i < 10; i++) await writer.apply({ id: `exec_c${i}`, flowId: 'f', status: 'queued' }, 'request');
    await vi.advanceTimersByTimeAsync(20_000);
    expect(upstream.gets).toHaveLength(10);
    expect(upstream.maxInFlight).toBe(2);
  });

  it('resumes unfinished runs from the store promptly at start', async () => {
    await store.compareAndSet({ run: { id: 'exec_r', flowId: 'f', status: 'running', seq: 2, source: 'poll' }, rev: 2, trackedAtMs: 999_000, updatedAtMs: 999_000 }, 0);
    expect(await poller.start()).toBe(1);
    await vi.advanceTimersByTimeAsync(100);
    expect(upstream.gets).toEqual(['exec_r']);
  });
});
