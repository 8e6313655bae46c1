import { describe, expect, it } from 'vitest';
import { durationQuantileMs, planPolls, type PollPlanInput } from '../../../src/polling/poll-plan.js';
import { DEFAULT_POLL_PRICES } from '../../../src/polling/recovery-planner.js';

/** 64 runs spread evenly over 1.5–4.5 s: the simulator's 3 s ± 50 %. */
const UNIFORM = Array.from({ length: 64 }, (_, i) => 1500 + (3000 * (i + 0.5)) / 64);
const base: PollPlanInput = { events: UNIFORM, censored: [], missRate: 1, firstMs: 2000, lastMs: 5900, prices: DEFAULT_POLL_PRICES };

describe('planPolls', () => {
  it('waits for the conservative grace alone when no webhook goes missing', () => {
    const plan = planPolls({ ...base, missRate: 0 });
    expect(plan.agesMs).toEqual([5900]);
    expect(plan.expectedGets).toBeLessThan(0.01);
  });

  it('with every webhook lost, polls at the likely completion times: under 2 GETs a run, lost runs found within 0.7 s on average', () => {
    const plan = planPolls(base);
    expect(plan.agesMs.length).toBeGreaterThanOrEqual(3);
    expect(plan.agesMs[0]).toBeGreaterThanOrEqual(2000);
    expect(plan.agesMs[0]).toBeLessThan(3500);
    expect(plan.agesMs.at(-1)).toBe(5900);
    expect([...plan.agesMs].sort((a, b) => a - b)).toEqual(plan.agesMs);
    expect(plan.expectedGets).toBeGreaterThan(1);
    expect(plan.expectedGets).toBeLessThanOrEqual(2);
    expect(plan.expectedLostDelayMs).toBeLessThan(700);
  });

  it('with 30 % lost, polls once just past the longest runs: under 0.5 GETs a run', () => {
    const plan = planPolls({ ...base, missRate: 0.3 });
    expect(plan.agesMs[0]).toBeGreaterThan(4450);
    expect(plan.agesMs[0]).toBeLessThan(4800);
    expect(plan.expectedGets).toBeLessThanOrEqual(0.5);
    expect(plan.expectedLostDelayMs).toBeLessThan(1700);
  });

  it('counts polls between a run\'s end and its webhook\'s arrival as wasted: with slow webhooks the poll moves past the latest arrival', () => {
    const arrivals = UNIFORM.map((at) => at + 1000);
    const plan = planPolls({ ...base, missRate: 0.3, arrivals, lastMs: 7000 });
    expect(plan.agesMs[0]).toBeGreaterThan(5400);
    expect(plan.expectedGets).toBeLessThanOrEqual(0.5);
    // Ignoring the delay, the same poll would come before most webhooks of the longest runs.
    const naive = planPolls({ ...base, missRate: 0.3, lastMs: 7000 });
    expect(naive.agesMs[0]).toBeLessThan(4800);
  });

  it('spends fewer GETs and waits longer as the miss rate falls', () => {
    const rates = [1, 0.8, 0.6, 0.4, 0.2, 0.05, 0];
    const plans = rates.map((missRate) => planPolls({ ...base, missRate }));
    for (let i = 1; i < plans.length; i++) {
      expect(plans[i]!.agesMs.length).toBeLessThanOrEqual(plans[i - 1]!.agesMs.length);
      expect(plans[i]!.agesMs[0]).toBeGreaterThanOrEqual(plans[i - 1]!.agesMs[0]!);
    }
  });

  it('takes runs seen still running as evidence that runs last longer (censored samples)', () => {
    // Twenty short runs seen final, twenty seen still running at 5 s: half the runs last longer.
    const events = Array.from({ length: 20 }, (_, i) => 1000 + i * 10);
    const censored = Array.from({ length: 20 }, () => 5000);
    const without = planPolls({ ...base, events, lastMs: 9000 });
    const withCensored = planPolls({ ...base, events, censored, lastMs: 9000 });
    // Nothing ends between 2 s and 5 s: without the censored runs the plan still expects the
    // unseen longer run there, with them it knows half the runs end after 5 s.
    const between = (ages: number[]) => ages.filter((at) => at > 2000 && at <= 5000).length;
    expect(between(without.agesMs)).toBeGreaterThan(0);
    expect(between(withCensored.agesMs)).toBe(0);
    expect(withCensored.expectedGets).toBeGreaterThan(without.expectedGets);
  });

  it('keeps room for a run longer than any seen: a poll just past the longest still expects some to be running', () => {
    const plan = planPolls({ ...base, missRate: 0.3 });
    // 1 of 65 pseudo-runs lies beyond the longest seen.
    expect(plan.expectedGets).toBeGreaterThan(0.3 + 0.005);
  });

  it('takes quantiles by Kaplan–Meier: plain percentiles without censoring, the longest age seen when censoring hides them', () => {
    expect(durationQuantileMs(UNIFORM, [], 0.95)).toBe(UNIFORM[Math.ceil(64 * 0.95) - 1]);
    expect(durationQuantileMs([1000, 2000], [5000, 5000, 5000], 0.95)).toBe(5000);
    expect(durationQuantileMs([], [], 0.95)).toBe(0);
  });

  it('copes with no history and degenerate bounds', () => {
    expect(planPolls({ ...base, events: [] }).agesMs.at(-1)).toBe(5900);
    expect(planPolls({ ...base, firstMs: 7000 }).agesMs).toEqual([5900]);
  });
});
