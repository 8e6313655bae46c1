import { describe, expect, it } from 'vitest';
import { nextPollDelayMs } from '../../../src/polling/poll-timing.js';

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
