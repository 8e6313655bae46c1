import { describe, expect, it } from 'vitest';
import { GraceEstimator } from '../../../src/polling/grace-estimator.js';
import { nextPollDelayMs } from '../../../src/polling/poll-timing.js';

describe('GraceEstimator', () => {
  const options = { defaultMs: 6000, minMs: 2000, maxMs: 120_000 };

  it('uses the default for a flow without history, or longer if its runs were seen to take longer', () => {
    const grace = new GraceEstimator(options);
    expect(grace.graceFor('new')).toBe(6000);
    grace.observe('slow', 20_000);
    expect(grace.graceFor('slow')).toBe(25_000);
  });

  it('learns p95 × 1.25 + 250 ms from enough samples, within bounds', () => {
    const grace = new GraceEstimator(options);
    for (let i = 0; i < 100; i++) grace.observe('f', 1500 + (3000 * i) / 99);
    const learnt = grace.graceFor('f');
    expect(learnt).toBeGreaterThan(4300 * 1.25);
    expect(learnt).toBeLessThan(4500 * 1.25 + 300);
    for (let i = 0; i < 64; i++) grace.observe('fast', 10);
    expect(grace.graceFor('fast')).toBe(2000);
    for (let i = 0; i < 64; i++) grace.observe('huge', 10_000_000);
    expect(grace.graceFor('huge')).toBe(120_000);
  });

  it('forgets old samples and ignores nonsense', () => {
    const grace = new GraceEstimator(options);
    for (let i = 0; i < 64; i++) grace.observe('f', 60_000);
    for (let i = 0; i < 64; i++) grace.observe('f', 3000);
    grace.observe('f', Number.NaN);
    grace.observe('f', -5);
    expect(grace.graceFor('f')).toBe(Math.round(3000 * 1.25 + 250));
  });
});

describe('nextPollDelayMs', () => {
  const options = { intervalMs: 2000, maxIntervalMs: 60_000 };
  it('is half the tracked time, at least the interval, at most the cap, ±20 %', () => {
    expect(nextPollDelayMs(0, options, () => 0.5)).toBe(2000);
    expect(nextPollDelayMs(10_000, options, () => 0.5)).toBe(5000);
    expect(nextPollDelayMs(10_000, options, () => 0)).toBe(4000);
    expect(nextPollDelayMs(10_000, options, () => 0.999999)).toBe(6000);
    expect(nextPollDelayMs(10_000_000, options, () => 0.5)).toBe(60_000);
  });
});
