import type { Redis } from 'ioredis';
import { StoreUnreachableError } from '../errors.js';
import { redactUrlPassword } from '../util/redact-url.js';

/**
 * Quits a connection gracefully when Redis is there, else drops it. QUIT on a connection that is
 * reconnecting joins the offline queue behind the commands waiting for Redis and resolves only
 * once Redis is back, so a shutdown while Redis is down would hang until the process is killed.
 */
export async function closeConnection(connection: Redis): Promise<void> {
  if (connection.status === 'end') return;
  if (connection.status === 'ready') await connection.quit().catch(() => connection.disconnect());
  else connection.disconnect();
}

/**
 * The database number of a redis:// URL (0 when the path names none). A path that is not a
 * number throws, rather than letting ioredis pick a database nobody asked for.
 */
export function redisDbOf(url: string): number {
  const db = new URL(url).pathname.replace(/^\//, '');
  if (db === '') return 0;
  if (!/^\d+$/.test(db)) throw new RangeError('the Redis database must be a number');
  return Number(db);
}

/** How long startup waits for Redis before giving up with a clear error. */
const REDIS_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Connects at start, or rejects after a while with a StoreUnreachableError: one line naming the
 * URL (password hidden) and the socket's own reason. Errors while connecting are its to report:
 * the connection's other `error` listeners (reconnect warnings) belong after it.
 */
export async function connectWithin(connection: Redis, url: string): Promise<void> {
  let lastError: Error | undefined;
  // ioredis prints errors itself when nobody listens; its connect() only says "Connection is closed".
  const onError = (error: Error) => (lastError = error);
  connection.on('error', onError);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${REDIS_CONNECT_TIMEOUT_MS} ms`)), REDIS_CONNECT_TIMEOUT_MS);
    timer.unref();
  });
  try {
    await Promise.race([connection.connect(), timeout]);
  } catch (error) {
    const reason = lastError?.message || (error instanceof Error ? error.message : String(error));
    throw new StoreUnreachableError(`Redis at ${redactUrlPassword(url)} is not reachable: ${reason}`, lastError ?? error);
  } finally {
    clearTimeout(timer);
    connection.off('error', onError);
  }
}
