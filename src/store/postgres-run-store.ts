import type pg from 'pg';
import { queryRetrying } from '../postgres/postgres-connection.js';
import { isFinal } from '../runs/run.js';
import type { RunRecord } from '../runs/run-record.js';
import { InvalidCursorError, decodeCursor, encodeCursor, type RunListPage, type RunListQuery, type RunStore, type UnfinishedCounts } from './run-store.js';

/** Finished runs one pruning statement deletes: each batch is its own short transaction. */
const PRUNE_BATCH = 1000;
/** A ping that takes longer than this counts as no answer (readiness must not hang). */
const PING_TIMEOUT_MS = 2000;

export interface PostgresRunStoreOptions {
  /** The pool (migrated: see postgres/postgres-schema.ts); may be shared with the bus and the schedule. */
  pool: pg.Pool;
  /** End the pool on close (true when the store is its only user). */
  ownsPool?: boolean;
}

/**
 * Runs in PostgreSQL for cluster mode. A run is one row of `rungate_runs`: the record as JSON
 * plus the columns that are filtered, ordered and counted on. Compare-and-set is one call of
 * `rungate_put_run`, which also appends the change to `rungate_changes` in the same transaction
 * (what the PostgreSQL bus delivers from), so a stored change is never left unannounced. Listing
 * is newest first by the insertion ordinal, each filter combination on an index of its own.
 * Reads and writes on the request path ride out a database restart of a few seconds
 * (queryRetrying); readiness (`ping`) does not wait.
 */
export class PostgresRunStore implements RunStore {
  readonly kind = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly ownsPool: boolean;

  constructor(options: PostgresRunStoreOptions) {
    this.pool = options.pool;
    this.ownsPool = options.ownsPool ?? false;
  }

  async get(id: string): Promise<RunRecord | undefined> {
    const { rows } = await queryRetrying<{ record: string }>(this.pool, {
      name: 'rungate_run_get',
      text: 'SELECT record FROM rungate_runs WHERE id = $1',
      values: [id],
    });
    return rows[0] ? (JSON.parse(rows[0].record) as RunRecord) : undefined;
  }

  async compareAndSet(next: RunRecord, expectedRev: number): Promise<boolean> {
    const { run } = next;
    const { rows } = await queryRetrying<{ written: boolean }>(this.pool, {
      name: 'rungate_run_put',
      text: 'SELECT rungate_put_run($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) AS written',
      values: [
        expectedRev,
        run.id,
        run.flowId,
        run.status,
        next.owner ?? null,
        isFinal(run.status),
        run.stale === true,
        next.rev,
        next.updatedAtMs,
        JSON.stringify(next),
      ],
    });
    return rows[0]?.written === true;
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
                 SELECT ordinal FROM rungate_runs WHERE final AND updated_at_ms < $1
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
