import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { Redis } from 'ioredis';

/** Where the Redis tests look; `.ci/run` starts a server here when none answers. */
export const REDIS_HOST = '127.0.0.1';
export const REDIS_PORT = 6379;

/** `redis://127.0.0.1:6379/<db>`. */
export function redisUrl(db = 0): string {
  return `redis://${REDIS_HOST}:${REDIS_PORT}/${db}`;
}

/** A key prefix no other test (or engineer) uses, so suites share the server safely. */
export function uniquePrefix(label: string): string {
  return `rungate-test:${label}:${randomBytes(6).toString('hex')}:`;
}

/** Whether a Redis on `port` of 127.0.0.1 answers PING within `timeoutMs`. */
export function answersPing(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, REDIS_HOST);
    const done = (result: boolean) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data: Buffer) => done(data.toString().startsWith('+PONG')));
  });
}

/**
 * Whether Redis answers on 127.0.0.1:6379. Under CI=true a missing Redis throws, so the suites
 * that need it fail instead of being skipped; elsewhere they use `describe.skipIf(!available)`.
 */
export async function redisAvailable(): Promise<boolean> {
  const up = await answersPing(REDIS_PORT, 1000);
  if (!up && process.env.CI === 'true') {
    throw new Error(`Redis does not answer on ${REDIS_HOST}:${REDIS_PORT}, and under CI=true its tests must run (.ci/run starts it)`);
  }
  return up;
}

/** A plain connection for test set-up and clean-up; the caller quits it. */
export function testRedis(db = 0): Redis {
  return new Redis({ host: REDIS_HOST, port: REDIS_PORT, db, lazyConnect: false, maxRetriesPerRequest: 1 });
}

/** Deletes every key under `prefix` in `db`. */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  if (!prefix.startsWith('rungate-test:')) throw new Error(`refusing to delete keys outside a test prefix: ${JSON.stringify(prefix)}`);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

/** Kills the server side of every connection named `name` (simulates a network drop). */
export async function killClientsNamed(redis: Redis, name: string): Promise<number> {
  const list = await redis.client('LIST');
  let killed = 0;
  for (const line of String(list).split('\n')) {
    const id = /(?:^|\s)id=(\d+)/.exec(line)?.[1];
    const clientName = /(?:^|\s)name=(\S*)/.exec(line)?.[1];
    if (id !== undefined && clientName === name) {
      await redis.client('KILL', 'ID', id);
      killed++;
    }
  }
  return killed;
}
