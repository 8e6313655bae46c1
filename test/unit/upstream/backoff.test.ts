import { describe, expect, it } from 'vitest';
import { fullJitterDelay } from '@rungate/client/shared';

describe('fullJitterDelay', () => {
  const policy = { baseDelayMs: 250, maxDelayMs: 30_000 };

  it('spans [0, base·2^attempt) and is capped at maxDelay', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = Math.min(30_000, 250 * 2 ** attempt);
      expect(fullJitterDelay(attempt, policy, () => 0)).toBe(0);
      expect(fullJitterDelay(attempt, policy, () => 0.999_999)).toBe(ceiling - 1);
      expect(fullJitterDelay(attempt, policy, () => 0.5)).toBe(Math.floor(ceiling / 2));
    }
  });

  it('stays within bounds for any random draw', () => {
    for (let i = 0; i < 1000; i++) {
      const attempt = i % 10;
      const delay = fullJitterDelay(attempt, policy, Math.random);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(Math.min(30_000, 250 * 2 ** attempt));
    }
  });
});
