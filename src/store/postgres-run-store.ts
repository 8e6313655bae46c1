import type pg from 'pg';
import type { LoggedChanges } from '../postgres/logged-changes.js';
import { queryRetrying } from '../postgres/postgres-connection.js';
import { isFinal } from '../runs/run.js';
import type { RunRecord } from '../runs/run-record.js';
import { deliveryDueAtMs } from '../runs/delivery.js';
import { decodeCursor, encodeCursor, type RunListPage, type RunListQuery, type RunStore, type UnfinishedCounts } from './run-store.js';
import { InvalidCursorError } from '../errors.js';

/** Most writes committed together (see compareAndSet). */
const MAX_BATCH = 200;
/** Finished runs one pruning statement deletes: each batch is its own short transaction. */
const PRUNE_BATCH = 1000;
/** A ping that takes longer than this counts as no answer (readiness must not hang). */
const PING_TIMEOUT_MS = 2000;

interface PendingWrite {
  record: RunRecord;
  expectedRev: number;
  resolve: (written: boolean) => void;
  reject: (error: unknown) => void;
}

/** Code-unit order, the same on every instance (unlike a locale's). */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface PostgresRunStoreOptions {
  /** The pool (migrated: see postgres/postgres-schema.ts); may be shared with the bus and the schedule. */
  pool: pg.Pool;
  /** End the pool on close (true when the store is its only user). */
  ownsPool?: boolean;
  /** Told of every change this store logged, for the bus of the same instance (see LoggedChanges). */
  loggedChanges?: LoggedChanges;
}

/**
 * Runs in PostgreSQL for cluster mode. A run is one row of `rungate_runs`: the record as JSON
 * plus the columns that are filtered, ordered and counted on. Compare-and-set goes through
 * `rungate_put_runs` (batched), which also appends the change to `rungate_changes` in the same transaction
 * (what the PostgreSQL bus delivers from), so a stored change is never left unannounced. Listing
 * is newest first by the insertion ordinal, each filter combination on an index of its own.
 * Reads and writes on the request path ride out a database restart of a few seconds
 * (queryRetrying); readiness (`ping`) does not wait.
 */
export class PostgresRunStore implements RunStore {
  readonly kind = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  private readonly loggedChanges: LoggedChanges | undefined;
  /** Writes waiting for the batch being committed to finish. */
  private pending: PendingWrite[] = [];
  private committing = false;

  constructor(options: PostgresRunStoreOptions) {
    this.pool = options.pool;
    this.ownsPool = options.ownsPool ?? false;
    this.loggedChanges = options.loggedChanges;
  }

  async get(id: string): Promise<RunRecord | undefined> {
    const { rows } = await queryRetrying<{ record: string }>(this.pool, {
      name: 'rungate_run_get',
      text: 'SELECT record FROM rungate_runs WHERE id = $1',
      values: [id],
    });
    return rows[0] ? (JSON.parse(rows[0].record) as RunRecord) : undefined;
  }

  /**
   * Group commit: writes that arrive while a batch is being committed wait and go together in
   * the next one — one transaction, one disk flush, one turn on the change log's lock for all of
   * them, which is what bounds throughput (each commit that announces a change is serialised
   * with every other). Each promise resolves only after its batch committed. Within a batch,
   * items run sorted by run id (stable, so two writes of one run keep their order: the second
   * sees the first's rev and reports a lost compare-and-set).
   */
  compareAndSet(next: RunRecord, expectedRev: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.pending.push({ record: next, expectedRev, resolve, reject });
      if (!this.committing) this.commitPending();
    });
  }

  private commitPending(): void {
    const batch = this.pending.splice(0, MAX_BATCH);
    if (batch.length === 0) return;
    this.committing = true;
    this.commitBatch(batch)
      .then(
        (written) => batch.forEach((write, index) => write.resolve(written[index] === true)),
        async () => {
          // One bad write must not fail its neighbours: each again in a batch of its own.
          for (const write of batch) {
            try {
              write.resolve((await this.commitBatch([write]))[0] === true);
            } catch (error) {
              write.reject(error);
            }
          }
        },
      )
      .finally(() => {
        this.committing = false;
        this.commitPending();
      });
  }

  private async commitBatch(batch: PendingWrite[]): Promise<boolean[]> {
    // Sorted by id so that concurrent batches lock rows in one order; the results go back by position.
    const order = batch.map((_, index) => index).sort((a, b) => compareIds(batch[a]!.record.run.id, batch[b]!.record.run.id) || a - b);
    const column = <T>(pick: (write: PendingWrite) => T) => order.map((index) => pick(batch[index]!));
    const { rows } = await queryRetrying<{ written: boolean[] }>(this.pool, {
      name: 'rungate_runs_put',
      text: `SELECT rungate_put_runs($1::integer[], $2::text[], $3::text[], $4::text[], $5::text[],
                                    $6::boolean[], $7::boolean[], $8::integer[], $9::bigint[], $10::text[],
                                    $11::bigint[]) AS written`,
      values: [
        column((w) => w.expectedRev),
        column((w) => w.record.run.id),
        column((w) => w.record.run.flowId),
        column((w) => w.record.run.status),
        column((w) => w.record.owner ?? null),
        column((w) => isFinal(w.record.run.status)),
        column((w) => w.record.run.stale === true),
        column((w) => w.record.rev),
        column((w) => w.record.updatedAtMs),
        column((w) => JSON.stringify(w.record)),
        column((w) => deliveryDueAtMs(w.record.delivery) ?? null),
      ],
    });
    const sortedResults = rows[0]?.written ?? [];
    const results: boolean[] = new Array<boolean>(batch.length).fill(false);
    order.forEach((index, position) => (results[index] = sortedResults[position] === true));
    for (const [index, written] of results.entries()) {
      const { record } = batch[index]!;
      if (written) this.loggedChanges?.add(record.run.id, record.rev, record.updatedAtMs);
    }
    return results;
  }

  async list(query: RunListQuery): Promise<RunListPage> {
    let before: number | undefined;
    try {
      if (query.cursor !== undefined) before = decodeCursor(query.cursor);
    } catch (error) {
      throw error instanceof Error ? error : new InvalidCursorError();
    }
    const where: string[] = [];
    const values: unknown[] = [];
    const filter = (column: string, value: unknown) => {
      values.push(value);
      where.push(`${column} = $${values.length}`);
    };
    if (query.flowId !== undefined) filter('flow_id', query.flowId);
    if (query.status !== undefined) filter('status', query.status);
    if (query.owner !== undefined) filter('owner', query.owner);
    if (before !== undefined) {
      values.push(before);
      where.push(`ordinal < $${values.length}`);
    }
    values.push(query.limit + 1);
    const text =
      `SELECT ordinal::float8 AS ordinal, record FROM rungate_runs` +
      `${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ordinal DESC LIMIT $${values.length}`;
    // One prepared statement per filter combination (the text names which), planned once per connection.
    const name = `rungate_run_list_${query.flowId !== undefined ? 'f' : ''}${query.status !== undefined ? 's' : ''}${query.owner !== undefined ? 'o' : ''}${before !== undefined ? 'c' : ''}`;
    const { rows } = await queryRetrying<{ ordinal: number; record: string }>(this.pool, { name, text, values });
    const page = rows.slice(0, query.limit);
    const records = page.map((row) => JSON.parse(row.record) as RunRecord);
    const last = page[page.length - 1];
    return rows.length > query.limit && last ? { records, nextCursor: encodeCursor(last.ordinal) } : { records };
  }

  async listUnfinished(): Promise<RunRecord[]> {
    const { rows } = await this.pool.query<{ record: string }>('SELECT record FROM rungate_runs WHERE NOT final');
    return rows.map((row) => JSON.parse(row.record) as RunRecord);
  }

  async countUnfinished(): Promise<UnfinishedCounts> {
    const { rows } = await this.pool.query<{ status: string; stale: boolean; n: number }>(
      'SELECT status, stale, count(*)::int AS n FROM rungate_runs WHERE NOT final GROUP BY status, stale',
    );
    const counts: UnfinishedCounts = { queued: 0, running: 0, stale: 0 };
    for (const { status, stale, n } of rows) {
      if (stale) counts.stale += n;
      else if (status === 'queued' || status === 'running') counts[status] += n;
    }
    return counts;
  }

  async listDueDeliveries(nowMs: number, limit: number): Promise<string[]> {
    const { rows } = await queryRetrying<{ id: string }>(this.pool, {
      name: 'rungate_relay_due',
      text: 'SELECT id FROM rungate_runs WHERE relay_due_ms IS NOT NULL AND relay_due_ms <= $1 ORDER BY relay_due_ms LIMIT $2',
      values: [nowMs, limit],
    });
    return rows.map((row) => row.id);
  }

  async countPendingDeliveries(): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM rungate_runs WHERE relay_due_ms IS NOT NULL');
    return rows[0]?.n ?? 0;
  }

  /**
   * Deletes in batches of PRUNE_BATCH, each its own statement (so its own short transaction):
   * no lock is held across the whole backlog, and rows a writer holds right now are skipped
   * rather than waited for (they are no longer "last written before" anyway, or next time).
   */
  async pruneFinished(beforeMs: number): Promise<number> {
    let removed = 0;
    for (;;) {
      const result = await this.pool.query({
        name: 'rungate_run_prune',
        text: `DELETE FROM rungate_runs WHERE ordinal IN (
                 SELECT ordinal FROM rungate_runs WHERE final AND updated_at_ms < $1 AND relay_due_ms IS NULL
                 ORDER BY updated_at_ms LIMIT $2 FOR UPDATE SKIP LOCKED)`,
        values: [beforeMs, PRUNE_BATCH],
      });
      const count = result.rowCount ?? 0;
      removed += count;
      if (count < PRUNE_BATCH) return removed;
    }
  }

  async ping(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`PostgreSQL did not answer within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS);
      timer.unref();
    });
    try {
      await Promise.race([this.pool.query('SELECT 1'), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }
}
