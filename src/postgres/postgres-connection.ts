import pg from 'pg';
import type { Logger } from 'pino';
import { redactUrlPassword } from '../util/redact-url.js';

/** How long startup waits for PostgreSQL before giving up with a clear error. */
const CONNECT_TIMEOUT_MS = 10_000;

/** Settings of the pooled connections; every one is bounded so no caller can hang on the database. */
export interface PostgresPoolOptions {
  /** Connections in the pool (the LISTEN connection of the bus comes on top). */
  max?: number;
  /** Longest a statement may run on the server before it is cancelled. */
  statementTimeoutMs?: number;
  /** Longest a caller waits for a connection from the pool (also: for a new one to open). */
  connectionTimeoutMs?: number;
  /** Shown in pg_stat_activity, so operators (and tests) can tell the connections apart. */
  applicationName?: string;
  logger?: Logger;
}

/**
 * A small pool of connections for the store, the bus's writes and the schedule. `statement_timeout`
 * is set on the server side of every connection and `query_timeout` on the client side, so a
 * statement stuck behind a lock or a dead socket fails instead of holding a request forever.
 * pg opens connections on demand, so after a database restart the next query reconnects by
 * itself; the 'error' listener is required, since an idle connection that the server drops
 * emits one, and unhandled it would end the process.
 */
export function createPostgresPool(url: string, options: PostgresPoolOptions = {}): pg.Pool {
  const statementTimeoutMs = options.statementTimeoutMs ?? 10_000;
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 8,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5000,
    idleTimeoutMillis: 30_000,
    statement_timeout: statementTimeoutMs,
    // The client gives up a little after the server would have cancelled, for sockets that went silent.
    query_timeout: statementTimeoutMs + 2000,
    idle_in_transaction_session_timeout: statementTimeoutMs,
    keepAlive: true,
    application_name: options.applicationName ?? 'rungate',
  });
  pool.on('error', (error: Error) => options.logger?.warn({ err: error }, 'PostgreSQL connection error (the pool reconnects)'));
  return pool;
}

/** Resolves once `pool` answers a query; rejects within a bound with a message naming the URL (sans password). */
export async function connectPostgresWithin(pool: pg.Pool, url: string, timeoutMs = CONNECT_TIMEOUT_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
  });
  try {
    await Promise.race([pool.query('SELECT 1'), timeout]);
  } catch (error) {
    throw new Error(`PostgreSQL at ${redactUrlPassword(url)} is not reachable: ${reasonOf(error)}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `body` in a transaction on one pooled connection: COMMIT when it resolves, ROLLBACK when it throws. */
export async function inTransaction<T>(pool: pg.Pool, body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await body(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    broken = error instanceof Error ? error : new Error(String(error));
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    // A connection that failed mid-transaction is dropped rather than handed to the next caller.
    client.release(broken);
  }
}

/**
 * Ends the pool, waiting at most `timeoutMs` for connections still in use: a query stuck on a
 * database that stopped answering must not hold shutdown past its bound (the sockets are dropped
 * with the process).
 */
export async function closePool(pool: pg.Pool, timeoutMs = 2000): Promise<void> {
  if (pool.ended || pool.ending) return;
  let timer: NodeJS.Timeout | undefined;
  const giveUp = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
    timer.unref();
  });
  try {
    await Promise.race([pool.end().catch(() => undefined), giveUp]);
  } finally {
    clearTimeout(timer);
  }
}

/** A one-line reason; connecting to a name with several addresses fails with an AggregateError whose own message is empty. */
function reasonOf(error: unknown): string {
  if (error instanceof AggregateError && error.message === '') {
    return error.errors.map((inner: unknown) => (inner instanceof Error ? inner.message : String(inner))).join('; ');
  }
  if (error instanceof Error) return error.message || ((error as NodeJS.ErrnoException).code ?? error.name);
  return String(error);
}

/** SQLSTATEs of a server that is shutting down, crashed or still starting, and of a lost connection. */
const TRANSIENT_SQLSTATES = new Set(['57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006']);
const TRANSIENT_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/**
 * Whether an error means the database could not be reached or went away mid-statement (as
 * opposed to one it answered, such as a constraint or a statement timeout). pg reports a
 * dropped connection and a pool that cannot connect in time by message only.
 */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (TRANSIENT_SQLSTATES.has(code) || TRANSIENT_ERRNOS.has(code))) return true;
  if (error instanceof AggregateError) return error.errors.some(isConnectionError);
  return /^Connection terminated|^timeout exceeded when trying to connect/.test(error.message);
}

/** How long `queryRetrying` keeps trying a database that does not answer before it gives up. */
const RETRY_BUDGET_MS = 5000;

/**
 * `pool.query`, retried with backoff for up to a few seconds while the database cannot be
 * reached (a restart, a failover), so a request that arrives meanwhile is held briefly instead
 * of failing at once. Only for statements that may run twice: a write whose connection broke
 * after its commit is retried too, which every caller here survives (a compare-and-set then
 * reports a lost race and the writer rereads; schedule writes are idempotent; a lost lease
 * comes due again).
 */
export async function queryRetrying<R extends pg.QueryResultRow>(pool: pg.Pool, query: pg.QueryConfig): Promise<pg.QueryResult<R>> {
  const deadline = Date.now() + RETRY_BUDGET_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      return await pool.query<R>(query);
    } catch (error) {
      const waitMs = Math.min(1000, 50 * 2 ** attempt);
      if (!isConnectionError(error) || pool.ending || Date.now() + waitMs > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
}

