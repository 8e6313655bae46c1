import { abortReason } from '@rungate/client/shared';

/** Gives back a slot taken from a ConcurrencyLimiter; calling it twice is harmless. */
export type ReleaseSlot = () => void;

interface Waiter {
  grant: (release: ReleaseSlot) => void;
  reject: (reason: Error) => void;
}

/**
 * A FIFO semaphore: at most `max` holders at once, waiters served in arrival order. A freed slot
 * passes straight to the next waiter, so a newcomer can never overtake the queue.
 */
export class ConcurrencyLimiter {
  readonly #max: number;
  readonly #queue: Waiter[] = [];
  #active = 0;
  #closedReason: Error | undefined;

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`concurrency must be a positive integer, got ${max}`);
    this.#max = max;
  }

  /** Slots in use. */
  get active(): number {
    return this.#active;
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Resolves with a release function once a slot is free; rejects on abort or close. */
  acquire(signal?: AbortSignal): Promise<ReleaseSlot> {
    if (this.#closedReason) return Promise.reject(this.#closedReason);
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    if (this.#active < this.#max) {
      this.#active++;
      return Promise.resolve(this.#releaser());
    }
    return new Promise<ReleaseSlot>((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.#queue.indexOf(waiter);
        if (index >= 0) this.#queue.splice(index, 1);
        if (signal) reject(abortReason(signal));
      };
      const waiter: Waiter = {
        grant: (release) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(release);
        },
        reject: (reason) => {
          signal?.removeEventListener('abort', onAbort);
          reject(reason);
        },
      };
      this.#queue.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Rejects every waiter and every later acquire with `reason`; holders keep their slots. */
  close(reason: Error): void {
    this.#closedReason = reason;
    for (const waiter of this.#queue.splice(0)) waiter.reject(reason);
  }

  #releaser(): ReleaseSlot {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#queue.shift();
      if (next) next.grant(this.#releaser());
      else this.#active--;
    };
  }
}
