import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { StoreResetError } from '../errors.js';
import { seqFloor } from '../runs/seq-rule.js';
import type { MarkReading, StoreMark, StoreMarker } from '../store/store-marker.js';

/** How often the mark is looked at besides reconnects and refused writes. */
export const STORE_CHECK_INTERVAL_MS = 5000;
/** The longest close() waits for a recovery in progress. */
const CLOSE_WAIT_MS = 2000;

/** A loss of the store's data, as this instance noticed it. */
export interface StoreReset {
  /** How it was noticed. */
  reason: string;
  /** The generation this instance knew before, and the one it writes under from now on. */
  previousGeneration: number;
  generation: number;
}

/** The marker a watch looks at, and what it does when the store lost its data. */
export interface StoreResetWatchDeps {
  marker: StoreMarker;
  logger: Logger;
  /**
   * Gives the store back what this instance knows (re-seeding, polls, subscribers); resolves
   * with a summary of what it did, which goes into the `store was reset` warning.
   */
  recover: (reset: StoreReset) => Promise<object>;
  intervalMs?: number;
  /** A fresh mark id; random unless a test fixes it. */
  newId?: () => string;
  /** Epoch ms, for the recovery's duration; Date.now unless a test fakes it. */
  now?: () => number;
}

/**
 * Notices, for any driver with a StoreMarker, that the shared store lost its data: at start it
 * takes the store's mark (writing the first one into an empty store), then looks again on every
 * reconnect, every STORE_CHECK_INTERVAL_MS, and whenever the store refuses a write as reset. A
 * store without a mark, with another instance's mark of a generation no higher than ours, with a
 * write count below our own writes', or that refused a write under our current mark, lost data:
 * this instance then puts a mark of the next generation in (or adopts the one another instance
 * put in first), so every later change gets a seq above anything held before, and has the
 * store recovered. Several instances noticing the same loss end on one mark.
 *
 * `check` and `confirm` resolve once the mark is settled, without waiting for the recovery,
 * which runs in the background: one at a time, a loss noticed during one gets one more after it.
 */
export class StoreResetWatch {
  private readonly newId: () => string;
  private readonly now: () => number;
  private known: StoreMark | undefined;
  private checking: Promise<void> | undefined;
  /** A look asked for while one was running, and the promise of it. */
  private again: { reason: string; refused: boolean } | undefined;
  private afterChecking: Promise<void> | undefined;
  private recovering: Promise<void> | undefined;
  private pending: StoreReset | undefined;
  private timer: NodeJS.Timeout | undefined;
  private removeReconnect: (() => void) | undefined;
  private closed = false;

  constructor(private readonly deps: StoreResetWatchDeps) {
    this.newId = deps.newId ?? (() => randomBytes(9).toString('base64url'));
    this.now = deps.now ?? Date.now;
  }

  /** Takes the store's mark (writing the first one if there is none) and starts watching it. */
  async start(): Promise<StoreMark> {
    const { marker } = this.deps;
    const reading = await marker.readMark();
    const mark = reading.mark ?? (await marker.swapMark(undefined, { id: this.newId(), generation: 0 }));
    this.adopt(mark);
    this.timer = setInterval(() => void this.check('periodic check'), this.deps.intervalMs ?? STORE_CHECK_INTERVAL_MS);
    this.timer.unref();
    this.removeReconnect = marker.onReconnect(() => void this.check('store reconnected'));
    this.deps.logger.debug({ generation: mark.generation }, 'watching the store mark');
    return mark;
  }

  /** The store generation this instance writes under. */
  get generation(): number {
    return this.known?.generation ?? 0;
  }

  /** The seq floor of that generation (runs/seq-rule.ts). */
  seqFloor(): number {
    return seqFloor(this.generation);
  }

  /** Looks at the store's mark; resolves once it is settled (see the class). Never rejects. */
  check(reason: string): Promise<void> {
    return this.lookSoon(reason, false);
  }

  /**
   * A write was refused as reset: settles the mark, then the writer writes again. A refusal under
   * a mark this instance has already left behind needs nothing more; one under the current mark
   * is a loss even when the store looks fine by now (another instance's writes may have brought
   * its count back up).
   */
  async confirm(error: StoreResetError): Promise<void> {
    while (this.checking) await this.checking;
    if (this.closed || !this.known || error.expectedMarkId !== this.known.id) return;
    await this.lookSoon('the store refused a write', true);
  }

  /** Stops watching; waits a little for a recovery in progress. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.removeReconnect?.();
    let timer: NodeJS.Timeout | undefined;
    const giveUp = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CLOSE_WAIT_MS);
      timer.unref();
    });
    await Promise.race([this.recovering, giveUp]);
    clearTimeout(timer);
  }

  /**
   * One look at a time. One asked for during a look gets one more look after it (shared by all
   * asked for meanwhile): the running look may have read before their cause — a reconnect that
   * comes while a read is stuck on the dropped connection must still be looked at.
   */
  private lookSoon(reason: string, refused: boolean): Promise<void> {
    if (this.closed || !this.known) return Promise.resolve();
    if (this.checking) {
      this.again = { reason: this.again?.reason ?? reason, refused: refused || (this.again?.refused ?? false) };
      this.afterChecking ??= this.checking.then(() => {
        const again = this.again!;
        this.again = undefined;
        this.afterChecking = undefined;
        return this.lookSoon(again.reason, again.refused);
      });
      return this.afterChecking;
    }
    this.checking = this.look(reason, refused).finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async look(reason: string, refused: boolean): Promise<void> {
    let reading: MarkReading;
    try {
      reading = await this.deps.marker.readMark();
    } catch (error) {
      // The store is away; the reconnect looks again.
      this.deps.logger.debug({ err: error, reason }, 'could not read the store mark');
      return;
    }
    const known = this.known!;
    const lost = lossOf(reading, known, this.deps.marker.ownWrites(), refused);
    if (!lost || this.closed) return;
    let mark: StoreMark;
    try {
      mark = await this.settle(reading.mark, known);
    } catch (error) {
      this.deps.logger.error({ err: error, reason }, 'could not mark the store after it lost its data');
      return;
    }
    this.adopt(mark);
    const reset: StoreReset = { reason: `${reason}: ${lost}`, previousGeneration: known.generation, generation: mark.generation };
    this.deps.logger.info(reset, 'store reset noticed; giving it back what this instance knows');
    this.recover(reset);
  }

  /** Adopts a higher generation another instance put in, or puts in the next one; loops on races. */
  private async settle(stored: StoreMark | undefined, known: StoreMark): Promise<StoreMark> {
    let current = stored;
    for (;;) {
      if (current && current.id !== known.id && current.generation > known.generation) return current;
      const next: StoreMark = { id: this.newId(), generation: Math.max(known.generation, current?.generation ?? 0) + 1 };
      current = await this.deps.marker.swapMark(current, next);
      if (current.id === next.id) return current;
    }
  }

  private adopt(mark: StoreMark): void {
    this.known = mark;
    this.deps.marker.expectMark(mark);
  }

  private recover(reset: StoreReset): void {
    if (this.recovering) {
      // The recovery under way may have read before this loss: one more after it (shared).
      this.pending = reset;
      return;
    }
    const run = async (current: StoreReset): Promise<void> => {
      const startedAt = this.now();
      try {
        const summary = await this.deps.recover(current);
        this.deps.logger.warn({ ...current, ...summary, durationMs: this.now() - startedAt }, 'store was reset');
      } catch (error) {
        this.deps.logger.error({ err: error, ...current }, 'recovering from a store reset failed');
      }
      const next = this.pending;
      this.pending = undefined;
      if (next && !this.closed) await run(next);
    };
    this.recovering = run(reset).finally(() => (this.recovering = undefined));
  }
}

/** Why a reading means the store lost data, or undefined when it does not. */
function lossOf(reading: MarkReading, known: StoreMark, ownWrites: number | undefined, refused: boolean): string | undefined {
  if (!reading.mark) return 'the store has no mark (it lost its data)';
  if (reading.mark.id !== known.id) return `the store carries another mark (generation ${reading.mark.generation})`;
  if (reading.writes !== undefined && ownWrites !== undefined && reading.writes < ownWrites) {
    return `the store counts ${reading.writes} writes, fewer than this instance's own reached (${ownWrites}): it went back in time`;
  }
  return refused ? 'the store refused a write under its current mark' : undefined;
}
