/**
 * The mark a shared store carries so that its instances notice when it lost its data. `id` is
 * random, written once per generation; `generation` counts the losses noticed so far (0 for a
 * store that never lost anything) and sets the seq floor of every change written under it
 * (runs/seq-rule.ts).
 */
export interface StoreMark {
  readonly id: string;
  readonly generation: number;
}

/** One look at a store's mark. */
export interface MarkReading {
  /** The mark in the store; undefined when there is none (an empty store: it lost its data, or is new). */
  mark: StoreMark | undefined;
  /**
   * The store's write counter, bumped by every run write that carried an expected mark; a store
   * that comes back with a lower count than this instance's own writes reached went back in time
   * (a restart that lost its last writes). Undefined when the driver keeps no counter.
   */
  writes?: number;
}

/**
 * What a shared store driver implements so that losing its data is noticed
 * (tracking/store-reset-watch.ts does the noticing and the recovery, for every driver alike).
 * Contract:
 * - `readMark` reads mark and write counter in one step.
 * - `swapMark(expected, next)` writes `next` only if the stored mark is still `expected`
 *   (undefined = no mark), atomically, keeping the write counter; it resolves with the mark the
 *   store holds afterwards (`next`, or whatever another instance wrote first).
 * - After `expectMark(mark)`, every `compareAndSet` checks atomically with its write that the
 *   store still holds `mark` — and, where the driver counts writes, that the counter has not
 *   fallen below the highest value this instance's own writes got since — and otherwise writes
 *   nothing and rejects with StoreResetError (src/errors.ts) naming `mark.id`. `expectMark`
 *   restarts that highest value from 0.
 * - `ownWrites` is that highest value (undefined when the driver counts none).
 * - `onReconnect` listeners are called each time the connection to the store is back after a
 *   drop (a restarted server is found this way first); the returned function removes one.
 */
export interface StoreMarker {
  readMark(): Promise<MarkReading>;
  swapMark(expected: StoreMark | undefined, next: StoreMark): Promise<StoreMark>;
  expectMark(mark: StoreMark): void;
  ownWrites(): number | undefined;
  onReconnect(listener: () => void): () => void;
}
