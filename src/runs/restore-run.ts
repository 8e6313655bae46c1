import type { RunRecord } from './run-record.js';
import { isFinal, statusRank } from './run.js';
import { nextSeq } from './seq-rule.js';
import { appendTimeline } from './run-timeline.js';

/** What writing back a held copy of a run does to the stored record. */
export type RestoreOutcome =
  /** The store gets the copy's state, or its own state under a higher seq: written and published. */
  | { kind: 'restored'; record: RunRecord }
  /** Only gateway-side facts came back (owner, webhook secret, when it was first seen): same seq. */
  | { kind: 'annotated'; record: RunRecord }
  | { kind: 'unchanged' };

/**
 * Reconciles a copy of a run that this instance still holds (cache, ledger) with what a shared
 * store that lost its data now has, as a pure function; several instances writing back their
 * copies at once converge, whatever the order.
 *
 * - Nothing stored: the copy goes back as it was, seq included. It is no new change: a peer that
 *   holds that seq skips it, a peer that holds less (another instance's) gets it.
 * - The copy is further along (a higher status; or a newer seq within queued/running): the copy
 *   wins, at its own seq when that is above the stored one, else at the next seq above both.
 * - The store is further along in status but not in seq (a record recreated by someone who did
 *   not know the old seq): its state is kept under the next seq above the copy's and the
 *   generation floor, so the peers that hold the copy's seq are sent it.
 * - Otherwise only gateway-side facts the store lacks are taken: the owner and webhook secret,
 *   and the earlier first-seen time (with whether the run was started here).
 */
export function restoreRun(current: RunRecord | undefined, copy: RunRecord, seqFloor: number, nowMs: number): RestoreOutcome {
  if (!current) return { kind: 'restored', record: restoredCopy(copy, nowMs) };

  const next: RunRecord = { ...current, rev: current.rev + 1, updatedAtMs: nowMs };
  const annotated = annotateFrom(next, copy);
  const copyRank = statusRank(copy.run.status);
  const storedRank = statusRank(current.run.status);
  const copyAhead = copyRank > storedRank || (copyRank === storedRank && !isFinal(copy.run.status) && copy.run.seq > current.run.seq);
  if (copyAhead) {
    const seq = copy.run.seq > current.run.seq ? copy.run.seq : nextSeq(current.run.seq, seqFloor);
    next.run = { ...copy.run, seq };
    // The copy's history goes back with its state; a new seq is a change of its own.
    next.timeline = seq === copy.run.seq ? copy.timeline : appendTimeline(copy.timeline, next.run, nowMs);
    if (next.timeline === undefined) delete next.timeline;
    return { kind: 'restored', record: next };
  }
  if (storedRank > copyRank && current.run.seq <= copy.run.seq) {
    next.run = { ...current.run, seq: nextSeq(copy.run.seq, seqFloor) };
    next.timeline = appendTimeline(current.timeline, next.run, nowMs);
    return { kind: 'restored', record: next };
  }
  return annotated ? { kind: 'annotated', record: next } : { kind: 'unchanged' };
}

/** A copy as it goes back into a store that has no record of the run: its state and seq as they were. */
export function restoredCopy(copy: RunRecord, nowMs: number): RunRecord {
  return { ...copy, rev: copy.rev + 1, updatedAtMs: nowMs };
}

/** Takes the gateway-side facts of `copy` that `target` lacks; true when any was taken. */
function annotateFrom(target: RunRecord, copy: RunRecord): boolean {
  let touched = false;
  if (target.owner === undefined && copy.owner !== undefined) {
    target.owner = copy.owner;
    touched = true;
  }
  if (target.webhookSecret === undefined && copy.webhookSecret !== undefined) {
    target.webhookSecret = copy.webhookSecret;
    touched = true;
  }
  // A record recreated after the loss was "first seen" just now; the copy knows better, and the
  // poller's grace and maximum age count from it.
  if (copy.trackedAtMs < target.trackedAtMs) {
    target.trackedAtMs = copy.trackedAtMs;
    if (copy.startedHere) target.startedHere = true;
    else delete target.startedHere;
    touched = true;
  }
  return touched;
}
