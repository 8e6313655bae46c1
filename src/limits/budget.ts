import type { LimitStore } from './limit-store.js';

/** Something that hands out one permission at a time: a local TokenBucket or a shared one. */
export interface Budget {
  tryTake(): boolean | Promise<boolean>;
}

/** A token bucket kept in a LimitStore under `key`, so every instance draws on the same tokens. */
export class StoredTokenBucket implements Budget {
  constructor(
    private readonly store: LimitStore,
    private readonly key: string,
    private readonly capacity: number,
    private readonly periodMs: number,
  ) {}

  tryTake(): Promise<boolean> {
    return this.store.take(this.key, this.capacity, this.periodMs);
  }
}
