/**
 * When each unfinished run is next polled. Contract for every driver:
 * - `add` schedules a run only if it is not scheduled yet (so lookups cannot postpone a poll);
 *   `set` schedules or moves it; `remove` forgets it.
 * - `takeDue` hands out at most `limit` runs whose time has come and leases each for `leaseMs`:
 *   a leased run stays scheduled (at now + leaseMs) so no one else takes it, and comes due again
 *   if its poller dies before calling `set` or `remove`. In cluster mode a due run is taken by
 *   exactly one instance.
 * - Ordered by due time (a heap or a sorted set), never by scanning every run.
 */
/** One run and when it is due. */
export interface ScheduledPoll {
  id: string;
  dueAtMs: number;
}

export interface PollSchedule {
  add(id: string, dueAtMs: number): Promise<void>;
  /** `add` for many runs in one round trip (the unfinished runs found at start-up). */
  addMany(entries: readonly ScheduledPoll[]): Promise<void>;
  set(id: string, dueAtMs: number): Promise<void>;
  remove(id: string): Promise<void>;
  takeDue(nowMs: number, limit: number, leaseMs: number): Promise<string[]>;
  /** The earliest due time, or undefined when nothing is scheduled. */
  nextDueAtMs(): Promise<number | undefined>;
  size(): Promise<number>;
  close(): Promise<void>;
}
