import { describe, expect, it } from 'vitest';
import { HeapPollSchedule } from '../../../src/polling/heap-poll-schedule.js';
import type { ScheduledPoll } from '../../../src/polling/poll-schedule.js';
import { resumeUnfinished } from '../../../src/polling/resume-unfinished.js';
import { MemoryRunStore } from '../../../src/store/memory-run-store.js';
import type { RunRecord } from '../../../src/runs/run-record.js';

function unfinished(i: number, stale = false): RunRecord {
  return { run: { id: `exec_${i}`, flowId: 'f', status: i % 2 ? 'queued' : 'running', seq: 1, source: 'webhook', ...(stale ? { stale: true } : {}) }, rev: 1, trackedAtMs: 1, updatedAtMs: 1 };
}

describe('resumeUnfinished', () => {
  it('schedules in batches, one round trip each, and lets the event loop run between batches', async () => {
    const store = new MemoryRunStore();
    for (let i = 0; i < 2500; i++) await store.compareAndSet(unfinished(i), 0);
    for (let i = 2500; i < 2510; i++) await store.compareAndSet(unfinished(i, true), 0);
    await store.compareAndSet({ ...unfinished(9999), run: { ...unfinished(9999).run, status: 'success' } }, 0);
    const heap = new HeapPollSchedule();
    const calls: ScheduledPoll[][] = [];
    const turnsAtCall: number[] = [];
    let turns = 0;
    let counting = true;
    const turn = () => {
      if (!counting) return;
      turns++;
      setImmediate(turn);
    };
    setImmediate(turn);
    const schedule = {
      addMany(entries: readonly ScheduledPoll[]) {
        calls.push([...entries]);
        turnsAtCall.push(turns);
        return heap.addMany(entries);
      },
    };
    const now = 1_000_000;
    const scheduled = await resumeUnfinished({ store, schedule, now: () => now, random: () => 0.999, batchSize: 1000 });
    counting = false;
    expect(scheduled).toBe(2500);
    expect(await heap.size()).toBe(2500);
    expect(calls.map((entries) => entries.length <= 1000)).toEqual(calls.map(() => true));
    expect(calls.length).toBeGreaterThanOrEqual(3);
    // Each batch after the first came at least one turn of the loop after the one before it.
    for (let i = 1; i < turnsAtCall.length; i++) expect(turnsAtCall[i]!).toBeGreaterThan(turnsAtCall[i - 1]!);
    // Due within the start-up spread: 50 ms per run seen, at most 5 s.
    const due = calls.flat().map((entry) => entry.dueAtMs - now);
    expect(Math.max(...due)).toBeLessThan(5000);
    expect(Math.min(...due)).toBeGreaterThanOrEqual(0);
    expect(calls[0]!.every((entry) => entry.dueAtMs - now < 50 * 1000)).toBe(true);
  });
});
