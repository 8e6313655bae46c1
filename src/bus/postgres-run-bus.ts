import type pg from 'pg';
import type { Logger } from 'pino';
import type { LoggedChanges } from '../postgres/logged-changes.js';
import { ListenConnection } from '../postgres/listen-connection.js';
import { queryRetrying } from '../postgres/postgres-connection.js';
import { changeChannel, readEpoch } from '../postgres/postgres-schema.js';
import type { RunRecord } from '../runs/run-record.js';
import { notifyListeners, type RunBus, type RunListener } from './run-bus.js';

/** Changes one catch-up query reads. */
const FETCH_BATCH = 500;
/** Refetch backoff after a failed read: from this, doubling, up to the next; with jitter. */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 2000;

export interface PostgresRunBusOptions {
  /** Appends and reads the change log; may be shared with the store and the schedule. */
  pool: pg.Pool;
  /** For the dedicated LISTEN connection (a pooled one would be handed to others between queries). */
  url: string;
  logger?: Logger;
  /** End the pool on close (true when the bus is its only user). */
  ownsPool?: boolean;
  /** How long changes stay in the log; a listener away for longer resynchronises instead. */
  retentionMs?: number;
  /** How often this instance prunes the log (any instance may; they do not conflict). */
  pruneIntervalMs?: number;
  /** application_name of the LISTEN connection (shown in pg_stat_activity). */
  applicationName?: string;
  /** What this instance's store logged already: publishing those needs no query (see LoggedChanges). */
  loggedChanges?: LoggedChanges;
}

interface ChangeRow {
  pruned_through: number;
  epoch: string;
  id: number | null;
  record: string | null;
}

/**
 * The cluster bus on PostgreSQL. Every change is a row of `rungate_changes`, written in the
 * store's compare-and-set transaction (or by `publish` for a change the store did not log), with
 * ids in commit order; NOTIFY carries only the new id (its payload is capped at 8000 bytes, a run
 * is not). On a notification the bus reads every row after the last id it delivered and calls
 * the listeners with them in id order — the same order on every instance, this one included,
 * since local changes too are delivered from the log, never directly from `publish`.
 *
 * When the LISTEN connection drops (a network blip, a database restart), the bus reconnects with
 * backoff and reads on from its last id, so nothing is lost. Only when it cannot — the rows it
 * missed were pruned already, or the database is not the one it knew (its epoch changed) — does
 * it call the resync listeners, after delivering what is still there.
 */
export class PostgresRunBus implements RunBus {
  private readonly listeners = new Set<RunListener>();
  private readonly resyncListeners = new Set<() => void>();
  private readonly pool: pg.Pool;
  private readonly url: string;
  private readonly logger: Logger | undefined;
  private readonly ownsPool: boolean;
  private readonly retentionMs: number;
  private readonly applicationName: string;
  private readonly loggedChanges: LoggedChanges | undefined;
  private channel = '';
  private epoch = '';
  /** The id of the last change delivered (or skipped as older than this bus). */
  private lastId = 0;
  private listener: ListenConnection | undefined;
  private fetchRetryTimer: NodeJS.Timeout | undefined;
  private fetchFailures = 0;
  private draining = false;
  private drainAgain = false;
  private readonly pruneTimer: NodeJS.Timeout;
  private closed = false;

  private constructor(options: PostgresRunBusOptions) {
    this.pool = options.pool;
    this.url = options.url;
    this.logger = options.logger;
    this.ownsPool = options.ownsPool ?? false;
    this.retentionMs = options.retentionMs ?? 10 * 60_000;
    this.applicationName = options.applicationName ?? 'rungate-listener';
    this.loggedChanges = options.loggedChanges;
    this.pruneTimer = setInterval(() => {
      this.prune().catch((error: unknown) => this.logger?.warn({ err: error }, 'pruning the change log failed'));
    }, options.pruneIntervalMs ?? 60_000);
    this.pruneTimer.unref();
  }

  /** Creates the bus and resolves once it listens; changes logged before that are not delivered. */
  static async create(options: PostgresRunBusOptions): Promise<PostgresRunBus> {
    const bus = new PostgresRunBus(options);
    try {
      bus.channel = await changeChannel(bus.pool);
      bus.epoch = await readEpoch(bus.pool);
      bus.listener = await ListenConnection.open({
        url: bus.url,
        channel: bus.channel,
        applicationName: bus.applicationName,
        logger: bus.logger,
        onNotify: () => bus.drain(),
        onReconnect: () => {
          bus.logger?.info({ lastId: bus.lastId }, 'change log listener reconnected; catching up');
          // What committed while it was away was not announced to it: read on from the last id.
          bus.drain();
        },
      });
      // Read after LISTEN is in place: whatever commits from now on is both announced and after this id.
      const { rows } = await bus.pool.query<{ id: number }>('SELECT coalesce(max(id), 0)::float8 AS id FROM rungate_changes');
      bus.lastId = rows[0]?.id ?? 0;
      return bus;
    } catch (error) {
      await bus.close();
      throw error;
    }
  }

  async publish(record: RunRecord): Promise<void> {
    if (this.closed) throw new Error('bus is closed');
    // The usual case: the store logged this change in its write's transaction, which has committed.
    if (this.loggedChanges?.take(record.run.id, record.rev, record.updatedAtMs)) return;
    await queryRetrying(this.pool, {
      name: 'rungate_change_log',
      text: 'SELECT rungate_log_change($1, $2, $3, $4)',
      values: [record.run.id, record.rev, record.updatedAtMs, JSON.stringify(record)],
    });
  }

  subscribe(listener: RunListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onResync(listener: () => void): () => void {
    this.resyncListeners.add(listener);
    return () => this.resyncListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    this.resyncListeners.clear();
    clearInterval(this.pruneTimer);
    clearTimeout(this.fetchRetryTimer);
    await this.listener?.close();
    if (this.ownsPool) await this.pool.end();
  }

  /**
   * Deletes changes older than the retention, a batch at a time, and raises the mark of what is
   * gone in the same statement, so a listener that finds its next change missing knows it.
   */
  async prune(): Promise<number> {
    let removed = 0;
    for (;;) {
      const { rows } = await this.pool.query<{ n: number }>({
        name: 'rungate_change_prune',
        text: `WITH gone AS (
                 DELETE FROM rungate_changes WHERE id IN (
                   SELECT id FROM rungate_changes WHERE created_at < clock_timestamp() - make_interval(secs => $1)
                   ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)
                 RETURNING id),
               mark AS (
                 UPDATE rungate_meta SET value = greatest(value::bigint, (SELECT max(id) FROM gone))::text
                 WHERE key = 'changes_pruned_through' AND EXISTS (SELECT 1 FROM gone))
               SELECT count(*)::int AS n FROM gone`,
        values: [this.retentionMs / 1000, FETCH_BATCH * 10],
      });
      const count = rows[0]?.n ?? 0;
      removed += count;
      if (count < FETCH_BATCH * 10 || this.closed) return removed;
    }
  }

  /** Reads and delivers everything after lastId; one reader at a time, again if asked meanwhile. */
  private drain(): void {
    if (this.closed) return;
    if (this.draining) {
      this.drainAgain = true;
      return;
    }
    this.draining = true;
    this.drainAgain = false;
    this.readOn().then(
      () => {
        this.draining = false;
        this.fetchFailures = 0;
        if (this.drainAgain) this.drain();
      },
      (error: unknown) => {
        this.draining = false;
        if (this.closed) return;
        this.logger?.warn({ err: error }, 'reading the change log failed; retrying');
        clearTimeout(this.fetchRetryTimer);
        this.fetchRetryTimer = setTimeout(() => this.drain(), backoffMs(this.fetchFailures++));
        this.fetchRetryTimer.unref();
      },
    );
  }

  private async readOn(): Promise<void> {
    let lost = false;
    for (;;) {
      // One statement, so one snapshot: the mark of what was pruned and the rows after lastId agree.
      const { rows } = await this.pool.query<ChangeRow>({
        name: 'rungate_change_read',
        text: `SELECT m.value::float8 AS pruned_through, e.value AS epoch, c.id::float8 AS id, c.record
                 FROM rungate_meta m
                 JOIN rungate_meta e ON e.key = 'epoch'
                 LEFT JOIN LATERAL (SELECT id, record FROM rungate_changes WHERE id > $1 ORDER BY id LIMIT $2) c ON true
                WHERE m.key = 'changes_pruned_through'
                ORDER BY c.id`,
        values: [this.lastId, FETCH_BATCH],
      });
      const head = rows[0];
      if (!head || this.closed) return;
      if (head.epoch !== this.epoch) {
        // Another database than the one this bus knew: its ids start over; read it from the start.
        this.logger?.warn({ previousEpoch: this.epoch, epoch: head.epoch }, 'the change log belongs to a new database (epoch changed); resynchronising');
        this.epoch = head.epoch;
        this.lastId = 0;
        lost = true;
        continue;
      }
      if (head.pruned_through > this.lastId) {
        this.logger?.warn({ lastId: this.lastId, prunedThrough: head.pruned_through }, 'changes missed while away were pruned already; resynchronising');
        this.lastId = head.pruned_through;
        lost = true;
        continue;
      }
      let read = 0;
      for (const row of rows) {
        if (row.id === null || row.record === null) continue;
        read++;
        this.lastId = row.id;
        this.deliver(row.record);
        if (this.closed) return;
      }
      if (read < FETCH_BATCH) break;
    }
    if (lost) this.resync();
  }

  private deliver(json: string): void {
    let record: RunRecord;
    try {
      record = JSON.parse(json) as RunRecord;
    } catch (error) {
      this.logger?.warn({ err: error }, 'ignored a malformed change in the change log');
      return;
    }
    notifyListeners(this.listeners, record, this.logger);
  }

  private resync(): void {
    for (const listener of this.resyncListeners) {
      try {
        listener();
      } catch (error) {
        this.logger?.error({ err: error }, 'resync listener failed');
      }
    }
  }
}

/** Exponential backoff with jitter (half to all of the step). */
function backoffMs(attempt: number): number {
  const step = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** Math.min(attempt, 10));
  return step / 2 + Math.random() * (step / 2);
}
