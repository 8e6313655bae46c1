import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryRunBus } from '../../../src/bus/memory-run-bus.js';
import { GatewayMetrics } from '../../../src/metrics/gateway-metrics.js';
import { SseHub } from '../../../src/push/sse-hub.js';
import type { Run } from '../../../src/runs/run.js';
import type { RunRecord } from '../../../src/runs/run-record.js';
import { Resync } from '../../../src/tracking/resync.js';

/** The part of a ServerResponse the hub uses, recording what it was sent. */
class FakeResponse extends EventEmitter {
  status = 0;
  headers: Record<string, string> = {};
  readonly chunks: string[] = [];
  writableLength = 0;
  destroyed = false;
  ended = false;
  socket = { setNoDelay: () => undefined };
  writeHead(status: number, headers: Record<string, string>): this {
    this.status = status;
    this.headers = headers;
    return this;
  }
  write(chunk: Buffer | string): boolean {
    this.chunks.push(chunk.toString());
    return true;
  }
  end(): void {
    this.ended = true;
    this.emit('close');
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
  /** The seqs of the run events it got, as `id:` lines. */
  eventIds(): string[] {
    return this.chunks.flatMap((chunk) => [...chunk.matchAll(/^id: (\d+)$/gm)].map((m) => m[1]!));
  }
}

const record = (id: string, seq: number, flowId = 'f', status: Run['status'] = 'running'): RunRecord => ({
  run: { id, flowId, status, seq, source: 'poll' }, rev: seq, trackedAtMs: 0, updatedAtMs: Date.now(),
});

describe('SseHub', () => {
  const hubs: SseHub[] = [];
  afterEach(() => {
    for (const hub of hubs.splice(0)) hub.close();
  });

  function hub(lookup: { find: (id: string) => Promise<RunRecord | undefined>; findLocalReadable: (id: string) => Promise<RunRecord | undefined> } = { find: () => Promise.resolve(undefined), findLocalReadable: () => Promise.resolve(undefined) }) {
    const bus = new MemoryRunBus();
    const metrics = new GatewayMetrics();
    const created = new SseHub({ bus, lookup, metrics, logger: pino({ level: 'silent' }) }, { keepAliveMs: 30_000, maxBufferedBytes: 1 << 20 });
    hubs.push(created);
    return { hub: created, bus, metrics };
  }

  it('sends a flow stream each change of its flow once, whether it comes by bus or by a resync', async () => {
    const { hub: sse, bus } = hub();
    const res = new FakeResponse();
    sse.openFlow(res as unknown as ServerResponse, undefined, 'f');
    expect(res.status).toBe(200);
    expect(res.headers).toMatchObject({ 'Content-Type': 'text/event-stream; charset=utf-8', 'X-Accel-Buffering': 'no' });
    expect(sse.followed()).toEqual({ runIds: [], flowIds: ['f'] });
    await bus.publish(record('exec_1', 1));
    await bus.publish(record('exec_2', 1, 'other'));
    // A resync rereads and offers what the stream may have missed; what it already has is skipped.
    const changed = record('exec_1', 2);
    const resync = new Resync({
      bus, store: { get: () => Promise.resolve(undefined), list: () => Promise.resolve({ records: [record('exec_1', 1), changed] }) },
      cache: { dropUnfinished: () => 0 }, waiters: { waitedRunIds: () => [], offer: () => undefined }, logger: pino({ level: 'silent' }),
    });
    resync.addFollower(sse);
    await resync.trigger('test');
    resync.close();
    expect(res.eventIds()).toEqual(['1', '2']);
  });

  it('opens a run stream with the latest state, parks changes during the lookup, and ends after the final state', async () => {
    let release: ((value: RunRecord) => void) | undefined;
    const { hub: sse, bus, metrics } = hub({ find: () => new Promise((resolve) => (release = resolve)), findLocalReadable: () => Promise.resolve(undefined) });
    const res = new FakeResponse();
    const opening = sse.openRun(res as unknown as ServerResponse, undefined, 'exec_1', undefined);
    await bus.publish(record('exec_1', 2)); // arrives while the run is looked up
    release!(record('exec_1', 1));
    await opening;
    expect(res.eventIds()).toEqual(['2']);
    expect(sse.size).toBe(1);
    await bus.publish(record('exec_1', 3, 'f', 'success'));
    expect(res.eventIds()).toEqual(['2', '3']);
    expect(res.ended).toBe(true);
    expect(sse.size).toBe(0);
    expect((await metrics.registry.getSingleMetric('rungate_sse_streams')!.get()).values[0]!.value).toBe(0);
  });

  it('answers no_content for a final run the consumer already has, and 404 for a run nobody knows', async () => {
    const final = record('exec_1', 4, 'f', 'success');
    const { hub: sse } = hub({ find: (id) => Promise.resolve(id === 'exec_1' ? final : undefined), findLocalReadable: () => Promise.resolve(undefined) });
    expect(await sse.openRun(new FakeResponse() as unknown as ServerResponse, undefined, 'exec_1', 4)).toBe('no_content');
    await expect(sse.openRun(new FakeResponse() as unknown as ServerResponse, undefined, 'exec_nope', undefined)).rejects.toMatchObject({ code: 'EXECUTION_NOT_FOUND', status: 404 });
    expect(sse.followed()).toEqual({ runIds: [], flowIds: [] });
  });
});
