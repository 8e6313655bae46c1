import type { Redis } from 'ioredis';

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
