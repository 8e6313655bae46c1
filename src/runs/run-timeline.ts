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
  if (progress && typeof progress === 'object') entry.progress = { step: progress.step, percentage: progress.percentage };
  return entry;
}

/**
 * The timeline with the change `run` is in appended, bounded: the first entry and the last
 * TIMELINE_KEEP. Returns a new array; the stored one is never mutated (records are shared with
 * the cache and the ledger).
 */
export function appendTimeline(timeline: readonly TimelineEntry[] | undefined, run: Run, nowMs: number): TimelineEntry[] {
  const next = [...(timeline ?? []), timelineEntry(run, nowMs)];
  if (next.length <= TIMELINE_KEEP + 1) return next;
  return [next[0]!, ...next.slice(next.length - TIMELINE_KEEP)];
}

/**
 * What the timeline route answers for a record, oldest first. A record written before timelines
 * were kept has none: its current state, accepted when it was last written, stands for it.
 */
export function timelineOf(record: RunRecord): TimelineEntry[] {
  if (record.timeline && record.timeline.length > 0) return record.timeline;
  return [timelineEntry(record.run, record.updatedAtMs)];
}
