import { describe, expect, it } from 'vitest';
import { runFrame, WsConnection } from '../../../src/push/ws-connection.js';
import type { RunRecord } from '../../../src/runs/run-record.js';
import type { RunStatus } from '../../../src/runs/run.js';
import { TokenBucket } from '../../../src/util/token-bucket.js';
import { FakeSocket, fakeMetrics } from './fakes.js';

function record(id: string, status: RunStatus, seq: number, writtenAtMs: number): RunRecord {
  return { run: { id, flowId: 'flow-a', status, seq, source: 'webhook' }, rev: seq, trackedAtMs: writtenAtMs, updatedAtMs: writtenAtMs };
}

/**
 * The guard against the growth the soak found: a flow subscriber used to remember every run it
 * was ever sent (up to 100,000 per connection). Now it remembers the last retention's worth.
 */
describe('a flow subscriber’s memory of what it was sent', () => {
  it('stays bounded over thousands of runs and still sends each final state once', () => {
    const clock = { ms: 1_000_000 };
    const socket = new FakeSocket();
    const frames = socket.frames;
    const connection = new WsConnection({
      socket,
      clientKey: 'ip:127.0.0.1',
      lookupBudget: new TokenBucket(10, 60_000),
      maxBufferedBytes: 4 * 1024 * 1024,
      metrics: fakeMetrics(),
      handle: () => undefined,
      now: () => clock.ms,
      seqMemory: { retentionMs: 5_000, maxRuns: 100_000 },
    });
    const offer = (r: RunRecord) => connection.sendRun(r.run, runFrame(r.run), r.updatedAtMs);
    const finals: RunRecord[] = [];
    // 20,000 runs at 100 a second, each running and then final 500 ms later.
    for (let i = 0; i < 20_000; i++) {
      clock.ms += 10;
      offer(record(`run${i}`, 'running', 1, clock.ms));
      if (i >= 50) {
        const final = record(`run${i - 50}`, 'success', 2, clock.ms);
        offer(final);
        finals.push(final);
      }
    }
    expect(frames).toHaveLength(20_000 + 19_950);
    // 5 s of runs at 100/s, plus the half second before whose final is inside the window.
    expect(connection.rememberedRuns).toBeLessThanOrEqual(550);

    // A resync after a long bus outage offers old final states again: none goes out twice.
    clock.ms += 3_600_000;
    for (const final of finals.slice(0, 1000)) offer(final);
    for (const final of finals.slice(-10)) offer(final);
    expect(frames).toHaveLength(39_950);
    // A run it never had still goes out.
    offer(record('fresh', 'success', 3, clock.ms));
    expect(frames).toHaveLength(39_951);
  });
});
