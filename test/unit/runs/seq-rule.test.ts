import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SEQ_GENERATION_STRIDE, nextSeq, seqFloor } from '../../../src/runs/seq-rule.js';

describe('the seq rule', () => {
  it('keeps seqs 1, 2, 3 … in a store that never lost its data', () => {
    expect(seqFloor(0)).toBe(0);
    expect(nextSeq(undefined, 0)).toBe(1);
    expect(nextSeq(1, 0)).toBe(2);
    expect(nextSeq(41, 0)).toBe(42);
  });

  it('puts the first change after a loss above the floor, and grows by one from there', () => {
    expect(seqFloor(1)).toBe(SEQ_GENERATION_STRIDE);
    expect(nextSeq(undefined, seqFloor(1))).toBe(SEQ_GENERATION_STRIDE + 1);
    expect(nextSeq(4, seqFloor(1))).toBe(SEQ_GENERATION_STRIDE + 1);
    expect(nextSeq(SEQ_GENERATION_STRIDE + 1, seqFloor(1))).toBe(SEQ_GENERATION_STRIDE + 2);
  });

  it('always grows by at least one, and a later generation always lands above an earlier one', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 1, max: 1000 }), (held, generation, later) => {
        const previous = seqFloor(generation) + held;
        const next = nextSeq(previous, seqFloor(generation));
        expect(next).toBeGreaterThanOrEqual(previous + 1);
        // Whatever a subscriber held in generation g (fewer changes than the stride), any change of g + k is above it.
        expect(nextSeq(undefined, seqFloor(generation + later))).toBeGreaterThan(previous);
        expect(Number.isSafeInteger(nextSeq(previous, seqFloor(generation + later)))).toBe(true);
      }),
    );
  });
});
