import { describe, expect, it } from 'vitest';
import { parseDurationSeconds } from '../../../src/config/duration.js';

describe('parseDurationSeconds', () => {
  it('reads seconds alone or with a unit', () => {
    expect(['3600', '90s', '30m', '12h', '7d', '1.5h', ' 2M '].map(parseDurationSeconds)).toEqual([3600, 90, 1800, 43_200, 604_800, 5400, 120]);
  });

  it('refuses what is not a duration', () => {
    for (const text of ['', 'h', '-5m', '1w', '1h30m', '1e3', 'soon']) expect(parseDurationSeconds(text), text).toBeUndefined();
  });
});
