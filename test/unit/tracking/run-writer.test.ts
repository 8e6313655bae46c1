import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { MemoryRunBus } from '../../../src/bus/memory-run-bus.js';
import { RunCache } from '../../../src/cache/run-cache.js';
import { RunWriter } from '../../../src/tracking/run-writer.js';
import { MemoryRunStore } from '../../../src/store/memory-run-store.js';
import type { RunRecord } from '../../../src/runs/run-record.js';

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
