import { describe, expect, it } from 'vitest';
import { HeapPollSchedule } from '../../../src/polling/heap-poll-schedule.js';

describe('HeapPollSchedule', () => {
  it('hands out due runs in due order, at most `limit`, and leases them', async () => {
    const schedule = new HeapPollSchedule();
    await schedule.add('c', 300);
    await schedule.add('a', 100);
    await schedule.add('b', 200);
    await schedule.add('d', 900);
    expect(await schedule.nextDueAtMs()).toBe(100);
    expect(await schedule.takeDue(250, 10, 1000)).toEqual(['a', 'b']);
    // Leased: still scheduled, due again at now + lease.
    expect(await schedule.size()).toBe(4);
    expect(await schedule.takeDue(310, 1, 1000)).toEqual(['c']);
    expect(await schedule.takeDue(1249, 10, 1000)).toEqual(['d']);
    expect((await schedule.takeDue(1250, 10, 1000)).sort()).toEqual(['a', 'b']);
  });

  it('add does not move a scheduled run; set does; remove forgets', async () => {
    const schedule = new HeapPollSchedule();
    await schedule.add('a', 100);
    await schedule.add('a', 5000);
    expect(await schedule.nextDueAtMs()).toBe(100);
    await schedule.set('a', 50);
    expect(await schedule.nextDueAtMs()).toBe(50);
    await schedule.set('a', 700);
    expect(await schedule.takeDue(600, 10, 1000)).toEqual([]);
    await schedule.remove('a');
    expect(await schedule.takeDue(10_000, 10, 1000)).toEqual([]);
    expect(await schedule.nextDueAtMs()).toBeUndefined();
  });

  it('stays ordered through many random moves and removals', async () => {
    const schedule = new HeapPollSchedule();
    const truth = new Map<string, number>();
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let i = 0; i < 5000; i++) {
      const id = `r${Math.floor(random() * 500)}`;
      const roll = random();
      if (roll < 0.5) {
        const due = Math.floor(random() * 10_000);
        await schedule.set(id, due);
        truth.set(id, due);
      } else if (roll < 0.7) {
        await schedule.remove(id);
        truth.delete(id);
      } else if (!truth.has(id)) {
        const due = Math.floor(random() * 10_000);
        await schedule.add(id, due);
        truth.set(id, due);
      }
    }
    const expected = [...truth.entries()].sort((x, y) => x[1] - y[1] || 0).map(([id, due]) => [id, due]);
    const taken = await schedule.takeDue(10_000, 10_000, 1_000_000);
    expect(taken).toHaveLength(expected.length);
    const dues = taken.map((id) => truth.get(id)!);
    expect(dues).toEqual([...dues].sort((a, b) => a - b));
  });
});
