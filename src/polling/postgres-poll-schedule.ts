import type pg from 'pg';
import { queryRetrying } from '../postgres/postgres-connection.js';
import type { PollSchedule, ScheduledPoll } from './poll-schedule.js';

export interface PostgresPollScheduleOptions {
  /** The pool (migrated: see postgres/postgres-schema.ts); may be shared with the store and the bus. */
  pool: pg.Pool;
  /** End the pool on close (true when the schedule is its only user). */
  ownsPool?: boolean;
}

/**
 * The cluster schedule on PostgreSQL: one row per scheduled run in `rungate_polls`, indexed by
 * due time. Taking due runs is one statement that picks them earliest first with
 * `FOR UPDATE SKIP LOCKED` and moves each to the end of its lease: two instances taking at the
 * same moment skip each other's rows instead of waiting for them, a row moved by a taker that
 * committed first no longer matches for the other (READ COMMITTED rechecks it), so a due run goes
 * to exactly one instance; if that instance dies before rescheduling or removing it, the run
 * simply comes due again when the lease ends.
 */
export class PostgresPollSchedule implements PollSchedule {
  private readonly pool: pg.Pool;
  private readonly ownsPool: boolean;

  constructor(options: PostgresPollScheduleOptions) {
    this.pool = options.pool;
    this.ownsPool = options.ownsPool ?? false;
  }

  async add(id: string, dueAtMs: number): Promise<void> {
    await queryRetrying(this.pool, {
      name: 'rungate_poll_add',
      text: 'INSERT INTO rungate_polls (run_id, due_at_ms) VALUES ($1, $2) ON CONFLICT (run_id) DO NOTHING',
      values: [id, Math.round(dueAtMs)],
    });
  }

  async addMany(entries: readonly ScheduledPoll[]): Promise<void> {
    if (entries.length === 0) return;
    await queryRetrying(this.pool, {
      name: 'rungate_poll_add_many',
      text: `INSERT INTO rungate_polls (run_id, due_at_ms) SELECT * FROM unnest($1::text[], $2::bigint[])
             ON CONFLICT (run_id) DO NOTHING`,
      values: [entries.map((entry) => entry.id), entries.map((entry) => Math.round(entry.dueAtMs))],
    });
  }

  async set(id: string, dueAtMs: number): Promise<void> {
    await queryRetrying(this.pool, {
      name: 'rungate_poll_set',
      text: 'INSERT INTO rungate_polls (run_id, due_at_ms) VALUES ($1, $2) ON CONFLICT (run_id) DO UPDATE SET due_at_ms = EXCLUDED.due_at_ms',
      values: [id, Math.round(dueAtMs)],
    });
  }

  async remove(id: string): Promise<void> {
    await queryRetrying(this.pool, { name: 'rungate_poll_remove', text: 'DELETE FROM rungate_polls WHERE run_id = $1', values: [id] });
  }

  async takeDue(nowMs: number, limit: number, leaseMs: number): Promise<string[]> {
    if (limit <= 0) return [];
    const { rows } = await queryRetrying<{ run_id: string; due_at_ms: number }>(this.pool, {
      name: 'rungate_poll_take',
      text: `UPDATE rungate_polls p SET due_at_ms = $3
               FROM (SELECT run_id, due_at_ms FROM rungate_polls WHERE due_at_ms <= $1
                      ORDER BY due_at_ms, run_id LIMIT $2 FOR UPDATE SKIP LOCKED) due
              WHERE p.run_id = due.run_id
             RETURNING p.run_id, due.due_at_ms::float8 AS due_at_ms`,
      values: [Math.round(nowMs), limit, Math.round(nowMs + leaseMs)],
    });
    // RETURNING comes in no particular order; the contract hands them out earliest first.
    rows.sort((a, b) => a.due_at_ms - b.due_at_ms || (a.run_id < b.run_id ? -1 : a.run_id > b.run_id ? 1 : 0));
    return rows.map((row) => row.run_id);
  }

  async nextDueAtMs(): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ due: number | null }>({
      name: 'rungate_poll_next',
      text: 'SELECT min(due_at_ms)::float8 AS due FROM rungate_polls',
    });
    const due = rows[0]?.due;
    return due === null || due === undefined ? undefined : due;
  }

  async size(): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>({ name: 'rungate_poll_size', text: 'SELECT count(*)::int AS n FROM rungate_polls' });
    return rows[0]?.n ?? 0;
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end();
  }
}
