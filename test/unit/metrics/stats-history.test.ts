import { describe, expect, it } from 'vitest';
import { StatsHistory, type StatsSnapshot } from '../../../src/metrics/stats-history.js';

const T0 = Date.UTC(2026, 0, 1, 3, 0, 0);

function snapshot(minute: number, counts: Partial<Omit<StatsSnapshot, 'atMs' | 'pushLatency'>> & { fast?: number; slow?: number } = {}): StatsSnapshot {
  const fast = counts.fast ?? 0;
  const slow = counts.slow ?? 0;
  return {
    atMs: T0 + minute * 60_000,
    webhooks: counts.webhooks ?? 0,
    finals: counts.finals ?? 0,
    recoveredByPoll: counts.recoveredByPoll ?? 0,
    upstreamCalls: counts.upstreamCalls ?? 0,
    upstream429: counts.upstream429 ?? 0,
    // Buckets in seconds: fast pushes under 5 ms, slow ones between 50 and 100 ms.
    pushLatency: [
      { le: 0.005, count: fast },
      { le: 0.1, count: fast + slow },
      { le: Infinity, count: fast + slow },
    ],
  };
}

describe('StatsHistory', () => {
  it('answers each minute as the difference of its two boundaries, the minute under way last', async () => {
    let current = snapshot(2.5, { webhooks: 30, finals: 12, recoveredByPoll: 3, upstreamCalls: 50, upstream429: 4, fast: 200, slow: 100 });
    const history = new StatsHistory({ read: () => Promise.resolve(current) });
    history.record(snapshot(0));
    history.record(snapshot(1, { webhooks: 10, finals: 4, recoveredByPoll: 0, upstreamCalls: 20, fast: 100 }));
    history.record(snapshot(2, { webhooks: 25, finals: 10, recoveredByPoll: 2, upstreamCalls: 40, upstream429: 4, fast: 100, slow: 100 }));

    const minutes = await history.minutes();
    expect(minutes.map((minute) => minute.at)).toEqual([0, 1, 2].map((m) => new Date(T0 + m * 60_000).toISOString()));
    expect(minutes.map((minute) => minute.webhooks)).toEqual([10, 15, 5]);
    expect(minutes.map((minute) => minute.webhookMissRate)).toEqual([0, 2 / 6, 1 / 2]);
    expect(minutes.map((minute) => minute.upstreamCalls)).toEqual([20, 20, 10]);
    expect(minutes.map((minute) => minute.upstream429)).toEqual([0, 4, 0]);
    // The second minute's own pushes were all slow; the first minute's and the last's all fast.
    expect(minutes[0]!.pushLatencyP99Ms).toBeLessThanOrEqual(5);
    expect(minutes[1]!.pushLatencyP99Ms).toBeGreaterThan(50);
    expect(minutes[2]!.pushLatencyP99Ms).toBeLessThanOrEqual(5);

    current = snapshot(2.6, { webhooks: 25, finals: 10, recoveredByPoll: 2, upstreamCalls: 40, upstream429: 4, fast: 100, slow: 100 });
    const quiet = (await history.minutes()).at(-1)!;
    expect(quiet).toMatchObject({ webhooks: 0, webhookMissRate: null, pushLatencyP99Ms: null, upstreamCalls: 0 });
  });

  it('keeps an hour: 60 whole minutes and the one under way, whatever ran before', async () => {
    const history = new StatsHistory({ read: () => Promise.resolve(snapshot(200.5, { webhooks: 201 })) });
    for (let minute = 0; minute <= 200; minute++) history.record(snapshot(minute, { webhooks: minute }));
    const minutes = await history.minutes();
    expect(minutes).toHaveLength(61);
    expect(minutes[0]!.at).toBe(new Date(T0 + 140 * 60_000).toISOString());
    expect(minutes.every((minute) => minute.webhooks === 1)).toBe(true);
  });

  it('reads at start and tells of a failed read instead of throwing', async () => {
    const errors: unknown[] = [];
    let reads = 0;
    const history = new StatsHistory({
      read: () => (++reads === 1 ? Promise.reject(new Error('store down')) : Promise.resolve(snapshot(0))),
      onError: (error) => errors.push(error),
    });
    await history.start();
    history.close();
    expect(errors).toHaveLength(1);
    expect(await history.minutes()).toEqual([]);
  });
});
