import { describe, expect, it } from 'vitest';
import { eventually, percentile, postJson, startBody, startStack, WsProbe, type Stack } from '../support/gateway-harness.js';

const FINAL = new Set(['success', 'failed', 'cancelled']);
/** Runs the flow's history is learnt from before the measured ones (the first poll comes after the default grace). */
const LEARNING_RUNS = 30;
const MEASURED_RUNS = 60;
const STAGGER_MS = 20;

interface Outcome {
  getsPerRun: number;
  /** Run end → subscriber, ms, of every measured run and of those whose final state came by poll. */
  delays: number[];
  lostDelays: number[];
}

/**
 * The recovery plan on the simulator with default settings (runs of 3 s ± 50 %): a flow's history
 * is learnt from a first batch of runs, then a second batch is measured — upstream GETs per run
 * from the simulator's counters, delay from each run's `completedAt` to its final state reaching
 * a WebSocket subscriber.
 */
async function measure(webhookDropRate: number, seed: number): Promise<Outcome> {
  let stack: Stack | undefined;
  let probe: WsProbe | undefined;
  try {
    stack = await startStack({ sim: { runMs: 3000, failRate: 0, webhookDropRate, seed } });
    const url = stack.url;
    probe = await WsProbe.connect(stack.wsUrl);
    const watcher = probe;
    watcher.send({ op: 'subscribe', flowId: '*' });
    await watcher.waitFor((m) => m.type === 'subscribed');
    const finalOf = (id: string) => watcher.messages.find((m) => m.type === 'run' && m.run?.id === id && FINAL.has(m.run.status as string));
    const batch = async (count: number, staggerMs: number): Promise<string[]> => {
      const ids = await Promise.all(
        Array.from({ length: count }, async (_, i) => {
          await new Promise((resolve) => setTimeout(resolve, i * staggerMs));
          return (await postJson(`${url}/api/v1/flows/recovery/run`, startBody())).body.id as string;
        }),
      );
      await eventually(() => ids.every((id) => finalOf(id) !== undefined), 30_000);
      return ids;
    };
    await batch(LEARNING_RUNS, 0);
    const getsBefore = stack.sim.stats().requests.get;
    const ids = await batch(MEASURED_RUNS, STAGGER_MS);
    const delays: number[] = [];
    const lostDelays: number[] = [];
    for (const id of ids) {
      const message = finalOf(id)!;
      const delay = performance.timeOrigin + message.at - Date.parse(message.run!.completedAt as string);
      delays.push(delay);
      if (message.run!.source === 'poll') lostDelays.push(delay);
    }
    return { getsPerRun: (stack.sim.stats().requests.get - getsBefore) / MEASURED_RUNS, delays, lostDelays };
  } finally {
    await probe?.close();
    await stack?.close();
  }
}

/**
 * Issue 19, goal 1: recovery that beats polling when webhooks are lost. The bounds are the goal's,
 * loosened for a loaded machine, yet the fixed "p95 × 1.25 + 250 ms" grace fails both lossy cases
 * (it waits ~5.9 s after the start: lost runs are found ~2.9 s after their end at the median).
 */
describe.concurrent('recovery plan learnt per flow (simulator, runs of 3 s ± 50 %)', () => {
  it('every webhook lost: found within 1.5 s of the run end at the median, 3 s at p99, ≤ 2 GETs a run', { timeout: 90_000 }, async () => {
    const outcome = await measure(1, 101);
    expect(outcome.lostDelays).toHaveLength(MEASURED_RUNS);
    expect(outcome.getsPerRun).toBeLessThanOrEqual(2);
    expect(percentile(outcome.delays, 50)).toBeLessThan(1500);
    expect(percentile(outcome.delays, 99)).toBeLessThan(3000);
  });

  it('30 % lost: ≤ 0.6 GETs a run (the goal, 0.5, with room for a loaded machine), the lost runs found within 2.3 s of their end at the median', { timeout: 90_000 }, async () => {
    const outcome = await measure(0.3, 102);
    expect(outcome.lostDelays.length).toBeGreaterThan(MEASURED_RUNS * 0.15);
    expect(outcome.getsPerRun).toBeLessThanOrEqual(0.6);
    expect(percentile(outcome.lostDelays, 50)).toBeLessThan(2300);
    expect(Math.max(...outcome.lostDelays)).toBeLessThan(10_000);
  });

  it('webhooks arriving: not one upstream GET', { timeout: 90_000 }, async () => {
    const outcome = await measure(0, 103);
    expect(outcome.lostDelays).toEqual([]);
    expect(outcome.getsPerRun).toBe(0);
  });
});
