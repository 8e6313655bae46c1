import { setImmediate as nextTurn } from 'node:timers/promises';
import type { RunStore } from '../store/run-store.js';
import type { PollSchedule, ScheduledPoll } from './poll-schedule.js';
import { startupJitterMs } from './poll-timing.js';

/** Unfinished runs read, parsed and scheduled per turn of the event loop at start-up. */
export const RESUME_BATCH = 1000;
/** The first polls of runs found at start-up spread over 50 ms per run, at most this long. */
const MAX_SPREAD_MS = 5000;

export interface ResumeOptions {
  store: Pick<RunStore, 'unfinishedBatches'>;
  schedule: Pick<PollSchedule, 'addMany'>;
  now: () => number;
  random: () => number;
  batchSize?: number;
}

/**
 * Schedules every unfinished, not stale run in the store for a prompt, jittered poll (after a
 * restart their webhooks may have come while the gateway was down). The store is read in batches,
 * each scheduled in one round trip, and the event loop runs between batches, so 100k unfinished
 * runs cost many short steps rather than one stall (webhooks and requests are answered meanwhile)
 * and are never all in memory at once. Returns how many were scheduled.
 */
export async function resumeUnfinished(options: ResumeOptions): Promise<number> {
  const { store, schedule, now, random } = options;
  let scheduled = 0;
  let first = true;
  for await (const batch of store.unfinishedBatches(options.batchSize ?? RESUME_BATCH)) {
    // A turn of the event loop between batches (none when everything fits in one).
    if (!first) await nextTurn();
    first = false;
    const entries: ScheduledPoll[] = [];
    // The spread grows with the runs seen so far: a few runs are looked at at once, many over seconds.
    const spreadMs = Math.min(MAX_SPREAD_MS, 50 * (scheduled + batch.length));
    const at = now();
    for (const run of batch) {
      if (run.stale) continue;
      entries.push({ id: run.id, dueAtMs: at + startupJitterMs(spreadMs, random) });
    }
    await schedule.addMany(entries);
    scheduled += entries.length;
  }
  return scheduled;
}
