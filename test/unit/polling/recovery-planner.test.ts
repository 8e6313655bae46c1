import { describe, expect, it } from 'vitest';
import { RecoveryPlanner, type FinalVia } from '../../../src/polling/recovery-planner.js';

const options = { defaultMs: 6000, minMs: 2000, maxMs: 120_000 };

/** n runs of 1.5–4.5 s (evenly spread), ended as `via` says. */
function finish(planner: RecoveryPlanner, flowId: string, n: number, via: FinalVia | ((i: number) => FinalVia), prefix = 'r'): void {
  for (let i = 0; i < n; i++) planner.observeFinal(flowId, `${prefix}${i}`, 1500 + (3000 * ((i * 37) % n)) / n, typeof via === 'function' ? via(i) : via);
}

describe('RecoveryPlanner', () => {
  it('uses the default for a flow without history, or longer if its runs were seen to take longer', () => {
    const planner = new RecoveryPlanner(options);
    expect(planner.firstPollAgeMs('new')).toBe(6000);
    expect(planner.nextPollAgeMs('new', 6000)).toBeUndefined();
    planner.observeFinal('slow', 'a', 20_000, 'webhook');
    expect(planner.firstPollAgeMs('slow')).toBe(25_000);
  });

  it('keeps a plan until 8 new observations or 10 s have passed, then plans again', () => {
    let nowMs = 0;
    const planner = new RecoveryPlanner({ ...options, now: () => nowMs });
    finish(planner, 'f', 100, 'webhook');
    const first = planner.planFor('f');
    // Much longer runs: each one would move the grace, but 7 of them wait for the 8th or for time.
    for (let i = 0; i < 7; i++) planner.observeFinal('f', `long${i}`, 30_000, 'webhook');
    nowMs = 9_999;
    expect(planner.planFor('f')).toBe(first);
    nowMs = 10_000;
    const timed = planner.planFor('f');
    expect(timed).not.toBe(first);
    expect(timed.agesMs.at(-1)).toBeGreaterThan(first.agesMs.at(-1)!);
    for (let i = 0; i < 7; i++) planner.observeFinal('f', `longer${i}`, 40_000, 'webhook');
    expect(planner.planFor('f')).toBe(timed);
    planner.observeFinal('f', 'longer7', 40_000, 'webhook');
    expect(planner.planFor('f')).not.toBe(timed);
  });

  it('webhooks arriving: one poll at p95 × 1.25 + 250 ms, as the fixed grace had it', () => {
    const planner = new RecoveryPlanner(options);
    finish(planner, 'f', 100, 'webhook');
    expect(planner.missRate('f')).toBe(0);
    const plan = planner.planFor('f');
    expect(plan.agesMs).toHaveLength(1);
    expect(plan.agesMs[0]).toBeGreaterThan(4300 * 1.25);
    expect(plan.agesMs[0]).toBeLessThan(4500 * 1.25 + 300);
  });

  it('every webhook lost: polls early and at the likely completion times, then backs off past the plan', () => {
    const planner = new RecoveryPlanner(options);
    finish(planner, 'f', 100, 'poll');
    expect(planner.missRate('f')).toBe(1);
    const plan = planner.planFor('f');
    expect(plan.agesMs.length).toBeGreaterThanOrEqual(3);
    expect(plan.agesMs[0]).toBeLessThan(3500);
    expect(plan.expectedGets).toBeLessThanOrEqual(2);
    // Walking the plan: each next poll is the plan's next point, none past its end.
    let age = plan.agesMs[0]!;
    const walked = [age];
    for (let next = planner.nextPollAgeMs('f', age); next !== undefined; next = planner.nextPollAgeMs('f', age)) walked.push((age = next));
    expect(walked.at(-1)).toBe(plan.agesMs.at(-1));
    for (let i = 1; i < walked.length; i++) {
      expect(plan.agesMs).toContain(walked[i]);
      expect(walked[i]! - walked[i - 1]!).toBeGreaterThanOrEqual(250);
    }
  });

  it('30 % lost: about 0.3 learnt, one poll just past the longest runs', () => {
    const planner = new RecoveryPlanner(options);
    finish(planner, 'f', 100, (i) => (i % 10 < 3 ? 'poll' : 'webhook'));
    expect(planner.missRate('f')).toBeGreaterThan(0.2);
    expect(planner.missRate('f')).toBeLessThan(0.4);
    const plan = planner.planFor('f');
    expect(plan.agesMs[0]).toBeGreaterThan(4400);
    expect(plan.agesMs[0]).toBeLessThan(4900);
    expect(plan.expectedGets).toBeLessThanOrEqual(0.5);
  });

  it('forgets: the miss rate follows a change either way within a few hundred runs', () => {
    const planner = new RecoveryPlanner(options);
    finish(planner, 'f', 200, 'poll', 'a');
    finish(planner, 'f', 400, 'webhook', 'b');
    expect(planner.missRate('f')).toBeLessThan(0.01);
    expect(planner.planFor('f').agesMs).toHaveLength(1);
    finish(planner, 'f', 200, 'poll', 'c');
    expect(planner.missRate('f')).toBeGreaterThan(0.95);
  });

  it('counts a webhook that comes after its run was polled final as late, not lost, once', () => {
    const planner = new RecoveryPlanner(options);
    finish(planner, 'f', 40, 'webhook');
    planner.observeFinal('f', 'x', 3000, 'poll');
    const lostRate = planner.missRate('f');
    expect(lostRate).toBeGreaterThan(0);
    planner.observeLateWebhook('f', 'x');
    expect(planner.missRate('f')).toBe(0);
    // A redelivery of the same late webhook changes nothing more; an unknown flow is ignored.
    planner.observeFinal('f', 'y', 3000, 'poll');
    const before = planner.missRate('f');
    planner.observeLateWebhook('f', 'x');
    expect(planner.missRate('f')).toBe(before);
    planner.observeLateWebhook('nobody', 'z');
    expect(planner.missRate('nobody')).toBe(0);
  });

  it('learns from polls that find runs still running: later plans while they run long', () => {
    const planner = new RecoveryPlanner(options);
    // The first twenty to end were short; twenty more were seen still running at 6 s.
    for (let i = 0; i < 20; i++) planner.observeFinal('f', `short${i}`, 1000 + i * 20, 'poll');
    const early = planner.planFor('f').expectedGets;
    for (let i = 0; i < 20; i++) planner.observeUnfinished('f', `long${i}`, 6000);
    const late = planner.planFor('f');
    expect(late.expectedGets).toBeGreaterThan(early);
    // Once they end, their censored entries give way to their final ages.
    for (let i = 0; i < 20; i++) planner.observeFinal('f', `long${i}`, 7000, 'poll');
    expect(planner.planFor('f').agesMs.some((at) => at >= 7000)).toBe(true);
  });

  it('bounds its memory: the oldest flow is forgotten past 10,000, and nonsense is ignored', () => {
    const planner = new RecoveryPlanner(options);
    planner.observeFinal('first', 'a', 50_000, 'webhook');
    expect(planner.firstPollAgeMs('first')).toBe(62_500);
    for (let i = 0; i < 10_000; i++) planner.observeFinal(`flow${i}`, 'a', 1000, 'webhook');
    expect(planner.firstPollAgeMs('first')).toBe(6000);
    planner.observeFinal('g', 'a', Number.NaN, 'webhook');
    planner.observeFinal('g', 'b', -5, 'webhook');
    planner.observeUnfinished('g', 'c', Number.POSITIVE_INFINITY);
    expect(planner.firstPollAgeMs('g')).toBe(6000);
    // Ten thousand runs seen running in one flow keep only the newest few.
    for (let i = 0; i < 10_000; i++) planner.observeUnfinished('g', `run${i}`, 1000 + i);
    for (let i = 0; i < 30; i++) planner.observeFinal('g', `done${i}`, 2000, 'poll');
    expect(planner.planFor('g').agesMs.length).toBeGreaterThan(0);
  });
});
