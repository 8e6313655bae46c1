import type { DocloError } from '../errors.js';
import { isFinalStatus, statusRank, type Run } from '../run.js';

/** Someone interested in one run: a subscriber or a waiter. */
export interface RunListener {
  onRun(run: Run): void;
  onError(error: DocloError): void;
}

/**
 * Latest states kept after their listeners left, most recently delivered first; older ones are
 * forgotten. A later wait on a run still in here starts from its state at once.
 */
export const REMEMBERED_RUNS = 10_000;

/**
 * Run ids recorded as carried by the current socket: at most this many (a few MB at worst). Past
 * the bound every run counts as carried, which costs one REST read per newly followed run that is
 * not remembered, never a missed state — so the bound holds whatever the gateway keeps.
 */
export const CARRIED_IDS_BOUND = 100_000;

/** One run followed by this client: its listeners and what was already handed to them. */
export class Follower {
  readonly listeners = new Set<RunListener>();
  /** Highest seq handed to the app; the `since` of every resubscribe. */
  lastSeq = 0;
  /** Highest status rank handed to the app. */
  lastRank = -1;
  latest: Run | undefined;
  /** A subscribe for this run went out on the current socket. */
  subscribed = false;
  /** `unavailable` answers in a row, spacing out the next subscribe. */
  retryAttempt = 0;
  retryTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(readonly runId: string) {}

  /** The run reached a state that never changes again. */
  get final(): boolean {
    return this.latest !== undefined && isFinalStatus(this.latest.status);
  }
}

/**
 * The runs this client follows, and the rule that hands each state to the app once: a state is
 * news only if its seq is higher than the last one handed over, or its status rank is (a gateway
 * that lost its store restarts seq, but never moves a run back). Keeps the latest states after
 * their listeners leave (REMEMBERED_RUNS), and which runs the current socket carried
 * (CARRIED_IDS_BOUND): the gateway sends each state of a run once per connection, so a run it
 * already carried and that is no longer remembered must be read over REST.
 */
export class FollowerRegistry {
  private readonly followers = new Map<string, Follower>();
  private readonly remembered = new Map<string, Run>();
  private readonly carried = new Set<string>();
  private carriedOverflow = false;
  /** Followers whose run can still change: the socket is wanted while there is one. */
  private unfinishedCount = 0;

  /** Adds a listener to the run's follower (created, from what is remembered, if new). */
  follow(runId: string, listener: RunListener): { follower: Follower; fresh: boolean } {
    let follower = this.followers.get(runId);
    const fresh = follower === undefined;
    if (!follower) {
      follower = new Follower(runId);
      const remembered = this.remembered.get(runId);
      if (remembered) {
        follower.latest = remembered;
        follower.lastSeq = remembered.seq;
        follower.lastRank = statusRank(remembered.status);
      }
      this.followers.set(runId, follower);
      if (!follower.final) this.unfinishedCount += 1;
    }
    follower.listeners.add(listener);
    return { follower, fresh };
  }

  /** Removes one listener; true when it was the last and the follower is gone. */
  unfollow(follower: Follower, listener: RunListener): boolean {
    if (!follower.listeners.delete(listener) || follower.listeners.size > 0) return false;
    return this.remove(follower);
  }

  /** Forgets a follower (its state stays remembered); false when it was already gone. */
  remove(follower: Follower): boolean {
    if (!this.isCurrent(follower)) return false;
    this.followers.delete(follower.runId);
    if (!follower.final) this.unfinishedCount -= 1;
    return true;
  }

  /** Whether this follower is still the one for its run. */
  isCurrent(follower: Follower): boolean {
    return this.followers.get(follower.runId) === follower;
  }

  /** The follower of a run, if followed. */
  get(runId: string): Follower | undefined {
    return this.followers.get(runId);
  }

  /** Every follower, as a snapshot safe to iterate while followers come and go. */
  all(): Follower[] {
    return [...this.followers.values()];
  }

  /** Whether some followed run can still change. */
  get hasUnfinished(): boolean {
    return this.unfinishedCount > 0;
  }

  /** Records `run` if it is news for the follower (see the class); false for a repeat or an old state. */
  accept(follower: Follower, run: Run): boolean {
    const rank = statusRank(run.status);
    if (follower.final || (run.seq <= follower.lastSeq && rank <= follower.lastRank)) return false;
    follower.lastSeq = Math.max(follower.lastSeq, run.seq);
    follower.lastRank = Math.max(follower.lastRank, rank);
    follower.latest = run;
    if (follower.final && this.isCurrent(follower)) this.unfinishedCount -= 1;
    this.remember(run);
    return true;
  }

  /** A new socket carries nothing yet. */
  startSocket(): void {
    this.carried.clear();
    this.carriedOverflow = false;
  }

  /** The current socket carried a state of this run. */
  noteCarried(runId: string): void {
    if (this.carried.size < CARRIED_IDS_BOUND) this.carried.add(runId);
    else this.carriedOverflow = true;
  }

  /** Whether the current socket may already have carried this run (and will not send it again). */
  mayHaveCarried(runId: string): boolean {
    return this.carriedOverflow || this.carried.has(runId);
  }

  private remember(run: Run): void {
    this.remembered.delete(run.id);
    this.remembered.set(run.id, run);
    if (this.remembered.size > REMEMBERED_RUNS) {
      const oldest = this.remembered.keys().next().value;
      if (oldest !== undefined) this.remembered.delete(oldest);
    }
  }
}
