import { describe, expect, it } from 'vitest';
import { LoggedChanges } from '../../../src/postgres/logged-changes.js';

describe('LoggedChanges', () => {
  it('answers each noted change once, and only that exact change', () => {
    const logged = new LoggedChanges();
    logged.add('exec_1', 2, 1000);
    expect(logged.take('exec_1', 2, 1001)).toBe(false);
    expect(logged.take('exec_1', 3, 1000)).toBe(false);
    expect(logged.take('exec_2', 2, 1000)).toBe(false);
    expect(logged.take('exec_1', 2, 1000)).toBe(true);
    expect(logged.take('exec_1', 2, 1000)).toBe(false);
  });

  it('stays bounded, dropping the oldest entries', () => {
    const logged = new LoggedChanges(3);
    for (let i = 0; i < 5; i++) logged.add(`exec_${i}`, 1, 1);
    expect([0, 1, 2, 3, 4].map((i) => logged.take(`exec_${i}`, 1, 1))).toEqual([false, false, true, true, true]);
  });
});
