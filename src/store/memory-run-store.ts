import { isFinal } from '../runs/run.js';
import { countUnfinishedRecords, decodeCursor, encodeCursor, matchesQuery, unfinishedSlices, type UnfinishedRun, type UnfinishedCounts, type RunListPage, type RunListQuery, type RunStore } from './run-store.js';
import { InvalidCursorError } from '../errors.js';
import type { RunRecord } from '../runs/run-record.js';
import { deliveryDueAtMs } from '../runs/delivery.js';

/**
 * Keeps runs in process memory: fast and lost on exit. Listing walks an insertion-ordered array
 * backwards, so the newest-first order costs no sort; the cursor is the insertion ordinal.
 */
export class MemoryRunStore implements RunStore {
  readonly kind = 'memory' as const;
  private readonly records = new Map<string, RunRecord>();
  // Insertion order as two parallel arrays (id, ordinal) rather than an object per run: the
  // store holds every run, so each run's bytes count.
  private orderIds: string[] = [];
  private orderOrdinals: number[] = [];
  private nextOrdinal = 1;
  /** Run id → when its pending delivery is due (the outbox index; few entries, scanned). */
  private readonly dueDeliveries = new Map<string, number>();

  get(id: string): Promise<RunRecord | undefined> {
    return Promise.resolve(this.records.get(id));
  }

  compareAndSet(next: RunRecord, expectedRev: number): Promise<boolean> {
    const current = this.records.get(next.run.id);
    const currentRev = current?.rev ?? 0;
    if (currentRev !== expectedRev) return Promise.resolve(false);
    this.records.set(next.run.id, next);
    if (!current) {
      this.orderIds.push(next.run.id);
      this.orderOrdinals.push(this.nextOrdinal++);
    }
    const due = deliveryDueAtMs(next.delivery);
    if (due === undefined) this.dueDeliveries.delete(next.run.id);
    else this.dueDeliveries.set(next.run.id, due);
    return Promise.resolve(true);
  }

  list(query: RunListQuery): Promise<RunListPage> {
    let before = Infinity;
    try {
      if (query.cursor !== undefined) before = decodeCursor(query.cursor);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new InvalidCursorError());
    }
    let index = this.indexBelow(before);
    const records: RunRecord[] = [];
    let lastOrdinal = 0;
    for (; index >= 0 && records.length < query.limit; index--) {
      const record = this.records.get(this.orderIds[index]!);
      if (record && matchesQuery(record, query)) {
        records.push(record);
        lastOrdinal = this.orderOrdinals[index]!;
      }
    }
    const more = records.length === query.limit && index >= 0;
    return Promise.resolve(more ? { records, nextCursor: encodeCursor(lastOrdinal) } : { records });
  }

  listUnfinished(): Promise<RunRecord[]> {
    const result: RunRecord[] = [];
    for (const record of this.records.values()) if (!isFinal(record.run.status)) result.push(record);
    return Promise.resolve(result);
  }

  unfinishedBatches(batchSize: number): AsyncIterable<UnfinishedRun[]> {
    return unfinishedSlices(this.listUnfinished(), batchSize);
  }

  countUnfinished(): Promise<UnfinishedCounts> {
    return Promise.resolve(countUnfinishedRecords([...this.records.values()]));
  }

  listDueDeliveries(nowMs: number, limit: number): Promise<string[]> {
    const due = [...this.dueDeliveries].filter(([, atMs]) => atMs <= nowMs).sort((a, b) => a[1] - b[1]);
    return Promise.resolve(due.slice(0, limit).map(([id]) => id));
  }

  countPendingDeliveries(): Promise<number> {
    return Promise.resolve(this.dueDeliveries.size);
  }

  pruneFinished(beforeMs: number): Promise<number> {
    let removed = 0;
    for (const [id, record] of this.records) {
      if (isFinal(record.run.status) && record.updatedAtMs < beforeMs && !this.dueDeliveries.has(id)) {
        this.records.delete(id);
        removed++;
      }
    }
    if (removed > 0) {
      const ids: string[] = [];
      const ordinals: number[] = [];
      for (let index = 0; index < this.orderIds.length; index++) {
        const id = this.orderIds[index]!;
        if (!this.records.has(id)) continue;
        ids.push(id);
        ordinals.push(this.orderOrdinals[index]!);
      }
      this.orderIds = ids;
      this.orderOrdinals = ordinals;
    }
    return Promise.resolve(removed);
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** The index of the last slot whose ordinal is below `ordinal` (binary search; ordinals grow). */
  private indexBelow(ordinal: number): number {
    let low = 0;
    let high = this.orderOrdinals.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      if (this.orderOrdinals[mid]! < ordinal) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    return found;
  }
}
