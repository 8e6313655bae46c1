import type { RunRecord } from '../runs/run-record.js';
import type { RunStatus } from '../runs/run.js';
import { InvalidCursorError } from '../errors.js';
import type { StoreMarker } from './store-marker.js';

export interface RunListQuery {
  flowId?: string;
  status?: RunStatus;
  owner?: string;
  limit: number;
  /** Opaque, from a previous page's nextCursor. */
  cursor?: string;
}

export interface RunListPage {
  records: RunRecord[];
  nextCursor?: string;
}

/**
 * Where run records live. Contract for every driver:
 * - `compareAndSet` is atomic: it writes `next` only if the stored record's `rev` equals
 *   `expectedRev` (0 = the run must not exist yet) and reports whether it wrote. Two writers
 *   racing on one run: exactly one wins, the other re-reads and retries.
 * - A write is durable (as far as the driver is) when its promise resolves.
 * - `list` is newest first (by when the gateway first stored the run); cursors are opaque and
 *   stay valid while runs are added.
 * - A shared store that can lose its data while instances keep running (Redis without
 *   persistence) has a `marker` (see store-marker.ts), which also changes `compareAndSet`: it
 *   may reject with StoreResetError. Stores that live and die with the process have none.
 * - The relay outbox (contract section 8) lives in the records: a record's `delivery` is indexed
 *   by `deliveryDueAtMs` in the same atomic write that stores the record, so a final state and its
 *   delivery are never one without the other, and `listDueDeliveries` never names a run whose
 *   stored delivery is not pending. A finished run with a pending delivery is not pruned.
 * - After `close`, no method may be called.
 */
export interface RunStore {
  readonly kind: 'memory' | 'sqlite' | 'redis' | 'postgres';
  readonly marker?: StoreMarker;
  get(id: string): Promise<RunRecord | undefined>;
  compareAndSet(next: RunRecord, expectedRev: number): Promise<boolean>;
  list(query: RunListQuery): Promise<RunListPage>;
  /** Every run whose status is not final (queued or running), stale ones included. */
  listUnfinished(): Promise<RunRecord[]>;
  /** How many unfinished runs there are, by status (stale ones apart), without reading them all where the driver can. */
  countUnfinished(): Promise<UnfinishedCounts>;
  /** Ids of runs whose delivery is pending and due (lease ends included) at or before `nowMs`, earliest first. */
  listDueDeliveries(nowMs: number, limit: number): Promise<string[]>;
  /** How many deliveries are pending, due or not. */
  countPendingDeliveries(): Promise<number>;
  /** Deletes finished runs last written before `beforeMs` (except those with a pending delivery); returns how many went. */
  pruneFinished(beforeMs: number): Promise<number>;
  /** Resolves when the store answers; rejects otherwise (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Unfinished runs by status; `stale` ones (given up on) are counted apart from the others. */
export type UnfinishedCounts = Record<'queued' | 'running' | 'stale', number>;

/** Counts unfinished records (for drivers that have to read them anyway). */
export function countUnfinishedRecords(records: Iterable<RunRecord>): UnfinishedCounts {
  const counts: UnfinishedCounts = { queued: 0, running: 0, stale: 0 };
  for (const { run } of records) {
    if (run.stale) counts.stale++;
    else if (run.status === 'queued' || run.status === 'running') counts[run.status]++;
  }
  return counts;
}

/** Whether a record passes a list query's filters. */
export function matchesQuery(record: RunRecord, query: RunListQuery): boolean {
  return (
    (query.flowId === undefined || record.run.flowId === query.flowId) &&
    (query.status === undefined || record.run.status === query.status) &&
    (query.owner === undefined || record.owner === query.owner)
  );
}

/** A list cursor for the insertion ordinal of the last run on a page (opaque to clients). */
export function encodeCursor(ordinal: number): string {
  return Buffer.from(String(ordinal)).toString('base64url');
}

/** The ordinal a cursor stands for; throws InvalidCursorError for anything else. */
export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString();
  if (!/^[1-9]\d{0,15}$/.test(text)) throw new InvalidCursorError();
  return Number(text);
}

