import { describe, expect, it } from 'vitest';
import { createRng, deriveRng, normalizeSeed } from '../../../src/simulator/rng.js';

describe('rng', () => {
  it('repeats the same sequence for the same seed', () => {
    const a = createRng(42);
    const b = createRng(42);
    const seqA = Array.from({ length: 20 }, () => a.next());
    const seqB = Array.from({ length: 20 }, () => b.next());
    expect(seqA).toEqual(seqB);
    expect(new Set(seqA).size).toBe(20);
    for (const value of seqA) {
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThan(1);
    }
  });

  it('differs between seeds and between derived streams', () => {
    expect(createRng(1).hex(8)).not.toBe(createRng(2).hex(8));
    expect(deriveRng(7, 'ids').hex(8)).not.toBe(deriveRng(7, 'faults').hex(8));
    expect(deriveRng(7, 'ids').hex(8)).toBe(deriveRng(7, 'ids').hex(8));
  });

  it('hex gives lowercase hex of the asked length', () => {
    expect(createRng(3).hex(8)).toMatch(/^[0-9a-f]{16}$/);
  });

  it('chance(0) does not consume a draw, so zero fault rates leave the stream untouched', () => {
    const a = createRng(9);
    const b = createRng(9);
    expect(a.chance(0)).toBe(false);
    expect(a.next()).toBe(b.next());
    expect(a.chance(1)).toBe(true);
  });

  it('int stays within bounds', () => {
    const rng = createRng(5);
    for (let i = 0; i < 200; i++) {
      const value = rng.int(3);
      expect([0, 1, 2]).toContain(value);
    }
  });

  it('normalizes any integer seed into 32 bits', () => {
    expect(normalizeSeed(-1)).toBe(2 ** 32 - 1);
    expect(normalizeSeed(2 ** 32 + 5)).toBe(5);
  });
});
