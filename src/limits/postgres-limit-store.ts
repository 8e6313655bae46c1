import type pg from 'pg';
import { queryRetrying } from '../postgres/postgres-connection.js';
import type { LimitStore, WindowHits } from './limit-store.js';

/** How often ended windows and refilled buckets are deleted. */
const SWEEP_INTERVAL_MS = 60_000;
/** Rows one sweep statement deletes. */
const SWEEP_BATCH = 5000;

export interface PostgresLimitStoreOptions {
  /** The pool (migrated: see postgres/postgres-schema.ts); may be shared with the other drivers. */
  pool: pg.Pool;
  /** End the pool on close (true when the store is its only user). */
  ownsPool?: boolean;
}

/**
 * Limits shared by every instance on one PostgreSQL database: each operation is one function
 * call on an UNLOGGED table (see migration 2), so a REST request's hit costs one round trip and
 * no disk flush. Ended windows and refilled buckets are swept in the background.
 */
export class PostgresLimitStore implements LimitStore {
  readonly shared = true;
  private readonly pool: pg.Pool;
  private readonly ownsPool: boolean;
  private readonly sweeper: NodeJS.Timeout;

  constructor(options: PostgresLimitStoreOptions) {
    this.pool = options.pool;
    this.ownsPool = options.ownsPool ?? false;
    this.sweeper = setInterval(() => void this.sweep().catch(() => undefined), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  async hit(key: string, windowMs: number): Promise<WindowHits> {
    const { rows } = await queryRetrying<{ hits: number; reset_at_ms: number }>(this.pool, {
      name: 'rungate_limit_hit',
      text: 'SELECT out_hits AS hits, out_reset_at_ms::float8 AS reset_at_ms FROM rungate_limit_hit($1, $2)',
      values: [key, Math.max(1, Math.round(windowMs))],
    });
    return { hits: rows[0]!.hits, resetAtMs: rows[0]!.reset_at_ms };
  }

  async unhit(key: string): Promise<void> {
    await queryRetrying(this.pool, {
      name: 'rungate_limit_unhit',
      text: 'UPDATE rungate_limit_windows SET hits = hits - 1 WHERE key = $1 AND hits > 0 AND reset_at_ms > rungate_now_ms()',
      values: [key],
    });
  }

  async reset(key: string): Promise<void> {
    await this.pool.query('DELETE FROM rungate_limit_windows WHERE key = $1', [key]);
    await this.pool.query('DELETE FROM rungate_limit_buckets WHERE key = $1', [key]);
  }

  async take(key: string, capacity: number, periodMs: number): Promise<boolean> {
    const { rows } = await queryRetrying<{ taken: boolean }>(this.pool, {
      name: 'rungate_limit_take',
      text: 'SELECT rungate_limit_take($1, $2, $3) AS taken',
      values: [key, capacity, Math.max(1, Math.round(periodMs))],
    });
    return rows[0]?.taken === true;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    if (this.ownsPool) await this.pool.end();
  }

  /** Deletes what no longer limits anyone, a batch per statement; answers how many rows went. */
  async sweep(): Promise<number> {
    let removed = 0;
    for (const [table, column] of [['rungate_limit_windows', 'reset_at_ms'], ['rungate_limit_buckets', 'full_at_ms']] as const) {
      for (;;) {
        const result = await this.pool.query(
          `DELETE FROM ${table} WHERE key IN (SELECT key FROM ${table} WHERE ${column} <= rungate_now_ms() LIMIT ${SWEEP_BATCH} FOR UPDATE SKIP LOCKED)`,
        );
        removed += result.rowCount ?? 0;
        if ((result.rowCount ?? 0) < SWEEP_BATCH) break;
      }
    }
    return removed;
  }
}
