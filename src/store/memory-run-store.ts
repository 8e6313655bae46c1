import { isFinal } from '../runs/run.js';
import { countUnfinishedRecords, decodeCursor, encodeCursor, matchesQuery, type UnfinishedCounts, type RunListPage, type RunListQuery, type RunStore } from './run-store.js';
import { InvalidCursorError } from '../errors.js';
import type { RunRecord } from '../runs/run-record.js';
import { deliveryDueAtMs } from '../runs/delivery.js';

/**
 * Keeps runs in process memory: fast and lost on exit. Listing walks an insertion-ordered array
 * backwards, so the newest-first order costs no sort; the cursor is the insertion ordinal.
 */
export class MemoryRunStore implements RunStore {
  readonly kind = 'memory' as const;
  private readonly records = new Map<string, { record: RunRecord; ordinal: number }>();
  private order: { id: string; ordinal: number }[] = [];
  private nextOrdinal = 1;
  /** Run id → when its pending delivery is due (the outbox index; few entries, scanned). */
  private readonly dueDeliveries = new Map<string, number>();

  get(id: string): Promise<RunRecord | undefined> {
    return Promise.resolve(this.records.get(id)?.record);
  }

  compareAndSet(next: RunRecord, expectedRev: number): Promise<boolean> {
    const entry = this.records.get(next.run.id);
    const currentRev = entry?.record.rev ?? 0;
    if (currentRev !== expectedRev) return Promise.resolve(false);
    if (entry) {
      entry.record = next;
    } else {
      const ordinal = this.nextOrdinal++;
      this.records.set(next.run.id, { record: next, ordinal });
      this.order.push({ id: next.run.id, ordinal });
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
      const slot = this.order[index];
      if (!slot) continue;
      const record = this.records.get(slot.id)?.record;
      if (record && matchesQuery(record, query)) {
        records.push(record);
        lastOrdinal = slot.ordinal;
      }
    }
    const more = records.length === query.limit && index >= 0;
    return Promise.resolve(more ? { records, nextCursor: encodeCursor(lastOrdinal) } : { records });
  }

  listUnfinished(): Promise<RunRecord[]> {
    const result: RunRecord[] = [];
    for (const { record } of this.records.values()) if (!isFinal(record.run.status)) result.push(record);
    return Promise.resolve(result);
  }

  countUnfinished(): Promise<UnfinishedCounts> {
    return Promise.resolve(countUnfinishedRecords([...this.records.values()].map((entry) => entry.record)));
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
    for (const [id, { record }] of this.records) {
      if (isFinal(record.run.status) && record.updatedAtMs < beforeMs && !this.dueDeliveries.has(id)) {
        this.records.delete(id);
        removed++;
      }
    }
    if (removed > 0) this.order = this.order.filter((slot) => this.records.has(slot.id));
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
    let high = this.order.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      if ((this.order[mid]?.ordinal ?? Infinity) < ordinal) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    return found;
  }
}
