import type { RunBus } from '../bus/run-bus.js';
import type { RunRecord } from '../runs/run-record.js';
import { isFinal } from '../runs/run.js';

interface Waiter {
  resolve: (record: RunRecord | undefined) => void;
  timer: NodeJS.Timeout;
}

/**
 * Lets REST readers hold an answer until a run ends (`wait: true`, `Prefer: wait=N`). It listens
 * to the bus, so a waiting reader costs no upstream call and no store read while it waits.
 */
export class FinalStateWaiters {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly unsubscribe: () => void;

  constructor(bus: RunBus) {
    this.unsubscribe = bus.subscribe((record) => {
      if (isFinal(record.run.status)) this.settle(record.run.id, record);
    });
  }

  /**
   * Resolves with the final record once the run ends, or with undefined after `timeoutMs`
   * (the caller then rereads the current state). `signal` ends the wait early the same way.
   */
  waitForFinal(id: string, timeoutMs: number, signal?: AbortSignal): Promise<RunRecord | undefined> {
    return new Promise((resolve) => {
      let set = this.waiters.get(id);
      if (!set) this.waiters.set(id, (set = new Set()));
      const waiters = set;
      const waiter: Waiter = {
        resolve: (record) => {
          clearTimeout(waiter.timer);
          waiters.delete(waiter);
          if (waiters.size === 0 && this.waiters.get(id) === waiters) this.waiters.delete(id);
          signal?.removeEventListener('abort', onAbort);
          resolve(record);
        },
        timer: setTimeout(() => waiter.resolve(undefined), timeoutMs),
      };
      waiter.timer.unref();
      const onAbort = () => waiter.resolve(undefined);
      signal?.addEventListener('abort', onAbort, { once: true });
      waiters.add(waiter);
    });
  }

  /** The runs someone is waiting for (to recheck them after a bus outage). */
  waitedRunIds(): string[] {
    return [...this.waiters.keys()];
  }

  /** Settles the waiters of a run found final by a reread rather than by the bus. */
  offer(record: RunRecord): void {
    if (isFinal(record.run.status)) this.settle(record.run.id, record);
  }

  private settle(id: string, record: RunRecord | undefined): void {
    const set = this.waiters.get(id);
    if (!set) return;
    for (const waiter of [...set]) waiter.resolve(record);
  }

  /** Releases every waiter (they reread and answer) and stops listening. */
  close(): void {
    this.unsubscribe();
    for (const id of [...this.waiters.keys()]) this.settle(id, undefined);
  }
}
