import type { Logger } from 'pino';
import type { RunBus } from '../bus/run-bus.js';
import type { RunCache } from '../cache/run-cache.js';
import type { RunRecord } from '../runs/run-record.js';
import type { RunStore } from '../store/run-store.js';
import type { FinalStateWaiters } from './final-state-waiters.js';

/** How many of a followed flow's newest runs a resync rereads. */
export const RESYNC_FLOW_RUNS = 100;
/** Clock skew allowed between instances when deciding which runs may have changed unseen. */
export const RESYNC_SKEW_MS = 5000;

/** What a follower's peers follow: runs by id, and flows (`*` = every flow). */
export interface FollowedRuns {
  runIds: readonly string[];
  flowIds: readonly string[];
  /** Run id → owner, where a peer's right to follow the run proves who owns it. */
  owners?: ReadonlyMap<string, string>;
}

/**
 * A transport that pushes changes to peers (the WebSocket hub; Server-Sent Events streams).
 * Contract: `offer` takes a reread record like a bus change and sends each peer only what it
 * lacks (per-peer seq memory), so offering a record a peer already has is harmless.
 */
export interface RunFollower {
  followed(): FollowedRuns;
  offer(record: RunRecord): void;
}

export interface ResyncDeps {
  bus: Pick<RunBus, 'subscribe' | 'onResync'>;
  store: Pick<RunStore, 'get' | 'list'>;
  cache: Pick<RunCache, 'dropUnfinished'>;
  waiters: Pick<FinalStateWaiters, 'waitedRunIds' | 'offer'>;
  logger: Logger;
  /** Epoch ms; Date.now unless a test fakes it. */
  now?: () => number;
}

/**
 * The one owner of catching up after changes may have gone unseen on this instance: after a bus
 * outage (registered once on `bus.onResync`) and, through `trigger`, any other cause (the shared
 * store lost its data: store-reset-watch.ts, once the store was given back what this instance
 * knew). Each pass drops the cache's unfinished entries (copies that may be stale), rereads the
 * runs long-poll readers wait for, and has every follower reread what its peers follow: each run
 * followed by id, and the newest runs of each followed flow written since the last change the
 * bus delivered (less RESYNC_SKEW_MS).
 * Limit: a flow subscription sees at most its flow's RESYNC_FLOW_RUNS newest runs this way.
 *
 * Triggers never run two passes at once: one that comes during a pass gets one more pass after
 * it (several such triggers share it), since the running pass may have read before their cause.
 */
export class Resync {
  private readonly followers = new Set<RunFollower>();
  private readonly now: () => number;
  private readonly unsubscribers: Array<() => void>;
  /** When the last change arrived from the bus: what an outage hid was written after it. */
  private lastChangeAtMs: number;
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly deps: ResyncDeps) {
    this.now = deps.now ?? Date.now;
    this.lastChangeAtMs = this.now();
    this.unsubscribers = [
      deps.bus.subscribe(() => this.noteChange()),
      deps.bus.onResync(() => void this.trigger('bus reconnected')),
    ];
  }

  /** Adds a follower to every later pass; returns its removal. */
  addFollower(follower: RunFollower): () => void {
    this.followers.add(follower);
    return () => this.followers.delete(follower);
  }

  /** What the peers of every follower follow, together (a store reset re-seeds from it). */
  followed(): FollowedRuns {
    const followed = [...this.followers].map((follower) => follower.followed());
    const owners = new Map<string, string>();
    for (const each of followed) for (const [runId, owner] of each.owners ?? []) owners.set(runId, owner);
    return {
      runIds: [...new Set(followed.flatMap((f) => f.runIds))],
      flowIds: [...new Set(followed.flatMap((f) => f.flowIds))],
      owners,
    };
  }

  /** Runs a pass (after the running one, if any); resolves when it is done. Never rejects. */
  trigger(reason: string): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.next) return this.next;
    if (!this.running) return this.start(reason);
    const next = this.running.then(() => {
      this.next = undefined;
      return this.closed ? undefined : this.start(reason);
    });
    this.next = next;
    return next;
  }

  /** Stops listening to the bus; later triggers do nothing. */
  close(): void {
    this.closed = true;
    for (const unsubscribe of this.unsubscribers) unsubscribe();
    this.followers.clear();
  }

  private start(reason: string): Promise<void> {
    const pass = this.pass(reason)
      .catch((error: unknown) => this.deps.logger.error({ err: error, reason }, 'resync failed'))
      .finally(() => {
      if (this.running === pass) this.running = undefined;
    });
    this.running = pass;
    return pass;
  }

  private async pass(reason: string): Promise<void> {
    const { cache, logger } = this.deps;
    const dropped = cache.dropUnfinished();
    logger.debug({ reason, dropped }, 'dropped unfinished runs from the cache');
    await Promise.all([
      this.recheckWaiters().catch((error: unknown) => logger.warn({ err: error, reason }, 'rechecking waiting readers failed')),
      this.resyncFollowers().catch((error: unknown) => logger.error({ err: error, reason }, 'resynchronising subscribers failed')),
    ]);
  }

  /** Long-poll readers whose run ended unseen are answered now. */
  private async recheckWaiters(): Promise<void> {
    const { store, waiters } = this.deps;
    await Promise.all(
      waiters.waitedRunIds().map(async (id) => {
        const record = await store.get(id);
        if (record) waiters.offer(record);
      }),
    );
  }

  private async resyncFollowers(): Promise<void> {
    const { store, logger } = this.deps;
    const sinceMs = this.lastChangeAtMs - RESYNC_SKEW_MS;
    const followers = [...this.followers];
    const { runIds, flowIds } = this.followed();
    const records = new Map<string, RunRecord>();
    for (const runId of runIds) {
      const record = await store.get(runId);
      if (record) records.set(runId, record);
    }
    for (const flowId of flowIds) {
      // `*` stands for every flow (contract section 3).
      const page = await store.list(flowId === '*' ? { limit: RESYNC_FLOW_RUNS } : { flowId, limit: RESYNC_FLOW_RUNS });
      for (const record of page.records) if (record.updatedAtMs >= sinceMs) records.set(record.run.id, record);
    }
    // Offered like bus changes (each follower sends only what its peers follow and lack).
    for (const record of records.values()) for (const follower of followers) follower.offer(record);
    if (records.size > 0) this.noteChange();
    logger.info({ runs: records.size }, 'resynchronised subscribers from the store');
  }

  private noteChange(): void {
    this.lastChangeAtMs = Math.max(this.lastChangeAtMs, this.now());
  }
}
