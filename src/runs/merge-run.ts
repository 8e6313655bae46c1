import type { RunRecord } from '../runs/run-record.js';
import { isFinal, isValidId, normalizeStatus, statusRank, type Run, type RunSource } from './run.js';
import { nextSeq } from './seq-rule.js';
import { appendTimeline } from './run-timeline.js';
import { newDelivery, relayEventOf } from './delivery.js';

/** News about a run from any source: Doclo's fields, status in any vocabulary. */
export type RunNews = { id: string; status?: unknown; flowId?: unknown; progress?: unknown; [field: string]: unknown };

/** Gateway-side facts that may come with news (never part of Doclo's run). */
export interface RunAnnotations {
  owner?: string;
  webhookSecret?: string;
  /** The caller's own webhookUrl from the start: the final state is delivered there (contract section 8). */
  webhookUrl?: string;
  startedHere?: boolean;
  /** The gateway gave up on the run (poll max age, or upstream no longer knows it). */
  stale?: boolean;
}

/** Fields the gateway owns; news never overwrites them. */
const GATEWAY_FIELDS = new Set(['id', 'flowId', 'status', 'seq', 'source', 'stale']);

export type MergeOutcome =
  | { kind: 'changed'; record: RunRecord }
  /** Only gateway-side annotations changed: written, but no new seq and nothing published. */
  | { kind: 'annotated'; record: RunRecord }
  | { kind: 'unchanged' }
  | { kind: 'invalid'; reason: string };

function sameProgress(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (!a || !b || typeof a !== 'object' || typeof b !== 'object') return false;
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  return left.step === right.step && left.percentage === right.percentage;
}

function copyDocloFields(target: Record<string, unknown>, news: RunNews): void {
  for (const [key, value] of Object.entries(news)) {
    // JSON.parse makes `__proto__` an own key; assigned, it would set the run's prototype.
    if (value !== undefined && !GATEWAY_FIELDS.has(key) && key !== '__proto__') target[key] = value;
  }
}

function annotate(record: RunRecord, notes: RunAnnotations): boolean {
  let touched = false;
  if (notes.owner !== undefined && record.owner === undefined) {
    record.owner = notes.owner;
    touched = true;
  }
  if (notes.webhookSecret !== undefined && record.webhookSecret === undefined) {
    record.webhookSecret = notes.webhookSecret;
    touched = true;
  }
  if (notes.webhookUrl !== undefined && record.webhookUrl === undefined) {
    record.webhookUrl = notes.webhookUrl;
    touched = true;
  }
  return touched;
}

/**
 * Puts the outbox entry into the record that makes the run final (or that learns the caller's
 * URL of a run already final): one write, so the state and its delivery are stored together.
 */
function withDelivery(record: RunRecord, nowMs: number): RunRecord {
  if (record.webhookUrl === undefined || record.delivery !== undefined) return record;
  const event = relayEventOf(record.run.status);
  if (event) record.delivery = newDelivery(record.run.id, record.webhookUrl, event, nowMs);
  return record;
}

/**
 * The state machine of one run, as a pure function: what the record becomes when `news` arrives
 * from `source`. A run never moves back (queued < running < final) and a final state never
 * changes; within queued or running only a new `progress` counts as a change. Every accepted
 * change bumps `seq` by one, and lifts it above `seqFloor` — the floor of the store's generation
 * (runs/seq-rule.ts; 0 until a shared store lost its data). Duplicates and stale news are
 * `unchanged`.
 */
export function mergeRun(
  current: RunRecord | undefined,
  news: RunNews,
  source: RunSource,
  notes: RunAnnotations,
  nowMs: number,
  seqFloor = 0,
): MergeOutcome {
  // Every source (webhook, poll, start, lookup, cancel) comes through here: an id outside the
  // rule of contract section 2 is never stored, whoever sent it.
  if (!isValidId(news.id)) return { kind: 'invalid', reason: 'the run id is not a valid id' };
  const markStale = notes.stale === true;
  const status = news.status === undefined ? current?.run.status : normalizeStatus(news.status);
  if (status === undefined) return { kind: 'invalid', reason: `unknown status ${JSON.stringify(news.status)}` };

  if (!current) {
    if (!isValidId(news.flowId)) return { kind: 'invalid', reason: 'a new run needs a valid flowId' };
    const run: Record<string, unknown> = {};
    copyDocloFields(run, news);
    // Assigned rather than spread into a literal: a literal that adds keys after a spread is
    // built as a hash-table object, about 300 bytes more per stored run.
    run.id = news.id;
    run.flowId = news.flowId;
    run.status = status;
    run.seq = nextSeq(undefined, seqFloor);
    run.source = source;
    if (markStale) run.stale = true;
    const record: RunRecord = {
      run: run as unknown as Run,
      rev: 1,
      trackedAtMs: nowMs,
      updatedAtMs: nowMs,
      // Only a run first heard of through its start has trackedAtMs = its start time.
      ...(notes.startedHere ? { startedHere: true } : {}),
    };
    annotate(record, notes);
    record.timeline = appendTimeline(undefined, record.run, nowMs);
    return { kind: 'changed', record: withDelivery(record, nowMs) };
  }

  const previous = current.run;
  const next: RunRecord = { ...current, rev: current.rev + 1, updatedAtMs: nowMs };
  const annotated = annotate(next, notes);
  const finalBefore = isFinal(previous.status);
  const rankDelta = statusRank(status) - statusRank(previous.status);

  let advances: boolean;
  if (finalBefore || rankDelta < 0) advances = false;
  else if (rankDelta > 0) advances = true;
  else advances = news.progress !== undefined && !sameProgress(news.progress, previous.progress);
  const staleFlip = markStale && !previous.stale && !finalBefore;

  if (!advances && !staleFlip) return annotated ? { kind: 'annotated', record: withDelivery(next, nowMs) } : { kind: 'unchanged' };

  // Copied key by key, leaving out what goes, rather than spread and then `delete`d: a deleted
  // key turns the stored run into a hash-table object.
  // A newer state from upstream means the run is alive again: `stale` goes.
  const dropProgress = advances && isFinal(status) && news.progress === undefined;
  const run: Record<string, unknown> = {};
  for (const key of Object.keys(previous)) {
    if ((advances && key === 'stale') || (dropProgress && key === 'progress')) continue;
    run[key] = (previous as unknown as Record<string, unknown>)[key];
  }
  if (advances) copyDocloFields(run, news);
  if (staleFlip) run.stale = true;
  run.id = previous.id;
  run.flowId = previous.flowId;
  run.status = status;
  run.seq = nextSeq(previous.seq, seqFloor);
  run.source = source;
  next.run = run as unknown as Run;
  next.timeline = appendTimeline(current.timeline, next.run, nowMs);
  return { kind: 'changed', record: withDelivery(next, nowMs) };
}
