import type { PollSchedule, ScheduledPoll } from './poll-schedule.js';

interface Entry {
  dueAtMs: number;
  id: string;
}

/**
 * A binary min-heap by due time for one instance. Moving or removing a run does not touch the
 * heap: `due` holds the truth and heap entries that disagree with it are dropped when they
 * surface (lazy deletion), so every operation is O(log n).
 */
export class HeapPollSchedule implements PollSchedule {
  private readonly heap: Entry[] = [];
  private readonly due = new Map<string, number>();

  add(id: string, dueAtMs: number): Promise<void> {
    if (!this.due.has(id)) this.place(id, dueAtMs);
    return Promise.resolve();
  }

  addMany(entries: readonly ScheduledPoll[]): Promise<void> {
    for (const { id, dueAtMs } of entries) if (!this.due.has(id)) this.place(id, dueAtMs);
    return Promise.resolve();
  }

  set(id: string, dueAtMs: number): Promise<void> {
    if (this.due.get(id) !== dueAtMs) this.place(id, dueAtMs);
    return Promise.resolve();
  }

  remove(id: string): Promise<void> {
    this.due.delete(id);
    this.compactIfSparse();
    return Promise.resolve();
  }

  takeDue(nowMs: number, limit: number, leaseMs: number): Promise<string[]> {
    const taken: string[] = [];
    while (taken.length < limit) {
      const top = this.peekLive();
      if (!top || top.dueAtMs > nowMs) break;
      this.pop();
      taken.push(top.id);
    }
    for (const id of taken) this.place(id, nowMs + leaseMs);
    return Promise.resolve(taken);
  }

  nextDueAtMs(): Promise<number | undefined> {
    return Promise.resolve(this.peekLive()?.dueAtMs);
  }

  size(): Promise<number> {
    return Promise.resolve(this.due.size);
  }

  close(): Promise<void> {
    this.heap.length = 0;
    this.due.clear();
    return Promise.resolve();
  }

  private place(id: string, dueAtMs: number): void {
    this.due.set(id, dueAtMs);
    this.push({ id, dueAtMs });
  }

  /** The top entry after dropping those that no longer match `due`. */
  private peekLive(): Entry | undefined {
    for (;;) {
      const top = this.heap[0];
      if (!top) return undefined;
      if (this.due.get(top.id) === top.dueAtMs) return top;
      this.pop();
    }
  }

  /** Rebuilds the heap when dead entries outnumber live ones three to one. */
  private compactIfSparse(): void {
    if (this.heap.length < 1024 || this.heap.length < this.due.size * 4) return;
    this.heap.length = 0;
    for (const [id, dueAtMs] of this.due) this.push({ id, dueAtMs });
  }

  private push(entry: Entry): void {
    const heap = this.heap;
    heap.push(entry);
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      const above = heap[parent]!;
      if (above.dueAtMs <= entry.dueAtMs) break;
      heap[index] = above;
      index = parent;
    }
    heap[index] = entry;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (!last || heap.length === 0) return;
    let index = 0;
    const length = heap.length;
    for (;;) {
      const left = index * 2 + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && heap[right]!.dueAtMs < heap[left]!.dueAtMs ? right : left;
      if (heap[child]!.dueAtMs >= last.dueAtMs) break;
      heap[index] = heap[child]!;
      index = child;
    }
    heap[index] = last;
  }
}
