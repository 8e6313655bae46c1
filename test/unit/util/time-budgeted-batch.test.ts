import { describe, expect, it } from 'vitest';
import { TimeBudgetedBatch } from '../../../src/util/time-budgeted-batch.js';

describe('TimeBudgetedBatch', () => {
  it('starts at the initial size and grows by at most doubling while batches stay under budget', () => {
    const batch = new TimeBudgetedBatch({ budgetMs: 20, initial: 50, max: 1000 });
    expect(batch.size).toBe(50);
    batch.record(1);
    expect(batch.size).toBe(100);
    batch.record(0);
    expect(batch.size).toBe(200);
    batch.record(16);
    expect(batch.size).toBe(250);
    batch.record(1);
    expect(batch.size).toBe(500);
    batch.record(1);
    batch.record(1);
    expect(batch.size).toBe(1000);
  });

  it('shrinks in proportion at once when a batch overran, never below one', () => {
    const batch = new TimeBudgetedBatch({ budgetMs: 20, initial: 400, max: 1000 });
    batch.record(80);
    expect(batch.size).toBe(100);
    batch.record(100_000);
    expect(batch.size).toBe(1);
    batch.record(40);
    expect(batch.size).toBe(1);
  });

  it('keeps the initial size within the maximum', () => {
    expect(new TimeBudgetedBatch({ budgetMs: 20, initial: 50, max: 10 }).size).toBe(10);
  });
});
