import type { RunRecord } from './run-record.js';
import type { Run, TimelineEntry } from './run.js';

export type { TimelineEntry } from './run.js';

/**
 * How many of the latest changes a record keeps (the contract asks for at least 50). The first
 * change is kept besides them, so a run polled for progress for hours still shows how it began.
 */
export const TIMELINE_KEEP = 50;

/** The entry for the state `run` is in now, accepted at `nowMs`. */
export function timelineEntry(run: Run, nowMs: number): TimelineEntry {
  const entry: TimelineEntry = { seq: run.seq, status: run.status, source: run.source, at: new Date(nowMs).toISOString() };
  const progress = run.progress;
  if (progress && typeof progress === 'object') entry.progress = onlyStepAndPercentage(progress) ? progress : { step: progress.step, percentage: progress.percentage };
  return entry;
}

/** Whether a run's progress is already what an entry keeps, so the entry can share it (records are never mutated). */
function onlyStepAndPercentage(progress: object): boolean {
  const keys = Object.keys(progress);
  return keys.length === 2 && keys[0] === 'step' && keys[1] === 'percentage';
}

/**
 * The timeline with the change `run` is in appended, bounded: the first entry and the last
 * TIMELINE_KEEP. Returns a new array; the stored one is never mutated (records are shared with
 * the cache and the ledger).
 */
export function appendTimeline(timeline: readonly TimelineEntry[] | undefined, run: Run, nowMs: number): TimelineEntry[] {
  const entry = timelineEntry(run, nowMs);
  // concat and slice make arrays of the exact length; a spread into a literal leaves room for
  // about 16 more elements, which a stored timeline would carry for good.
  if (!timeline || timeline.length === 0) return [entry];
  if (timeline.length < TIMELINE_KEEP + 1) return timeline.concat(entry);
  return timeline.slice(0, 1).concat(timeline.slice(timeline.length - TIMELINE_KEEP + 1), entry);
}

/**
 * What the timeline route answers for a record, oldest first. A record written before timelines
 * were kept has none: its current state, accepted when it was last written, stands for it.
 */
export function timelineOf(record: RunRecord): TimelineEntry[] {
  if (record.timeline && record.timeline.length > 0) return record.timeline;
  return [timelineEntry(record.run, record.updatedAtMs)];
}
