import type { Logger } from 'pino';

/** The one command this needs of a connection (ioredis' `call`; a fake in tests). */
export interface RedisCaller {
  call(command: string, ...args: string[]): Promise<unknown>;
}

/** What a Redis server keeps on disk, as far as it lets us see. */
export interface RedisPersistence {
  /** `appendonly yes`; undefined when it could not be read. */
  appendOnly: boolean | undefined;
  /** RDB snapshots configured (a non-empty `save`); undefined when it could not be read. */
  snapshots: boolean | undefined;
  /** Where it was read: CONFIG GET, INFO persistence (CONFIG disabled or renamed), or neither. */
  source: 'config' | 'info' | 'none';
}

const ADVICE = 'production Redis needs appendonly yes with appendfsync everysec';

/**
 * Reads the server's persistence settings with CONFIG GET, falling back to INFO persistence on
 * servers that refuse CONFIG (managed services often rename or disable it); INFO tells whether
 * the append-only file is on, not whether snapshots are configured. Never rejects.
 */
export async function readRedisPersistence(redis: RedisCaller): Promise<RedisPersistence> {
  try {
    const appendOnly = await configValue(redis, 'appendonly');
    const save = await configValue(redis, 'save');
    return { appendOnly: appendOnly === 'yes', snapshots: save.trim() !== '', source: 'config' };
  } catch {
    // Not allowed here: INFO still says whether the append-only file is on.
  }
  try {
    const info = String(await redis.call('INFO', 'persistence'));
    const aof = /^aof_enabled:(\d)/m.exec(info)?.[1];
    return { appendOnly: aof === undefined ? undefined : aof === '1', snapshots: undefined, source: aof === undefined ? 'none' : 'info' };
  } catch {
    return { appendOnly: undefined, snapshots: undefined, source: 'none' };
  }
}

/** What to tell the operator about those settings; undefined when the server keeps an append-only file. */
export function persistenceWarning(persistence: RedisPersistence): { level: 'warn' | 'info'; message: string } | undefined {
  const { appendOnly, snapshots } = persistence;
  if (appendOnly === true) return undefined;
  if (appendOnly === false && snapshots === false) {
    return {
      level: 'warn',
      message: `Redis keeps nothing on disk: when it restarts, every run, owner and scheduled poll it holds is gone (the instances give back what they still know); ${ADVICE}`,
    };
  }
  if (appendOnly === false && snapshots === true) {
    return { level: 'warn', message: `Redis keeps only RDB snapshots: a restart loses what changed since the last one; ${ADVICE}` };
  }
  if (appendOnly === false) {
    return { level: 'warn', message: `Redis has no append-only file, and whether it takes snapshots cannot be read (CONFIG is not allowed); ${ADVICE}` };
  }
  return { level: 'info', message: `could not tell whether Redis keeps its data on disk (CONFIG and INFO were refused); ${ADVICE}` };
}

/** Logs persistenceWarning's advice for the server behind `redis`, with the settings read. */
export async function warnIfNotPersistent(redis: RedisCaller, logger: Logger): Promise<RedisPersistence> {
  const persistence = await readRedisPersistence(redis);
  const warning = persistenceWarning(persistence);
  if (warning) logger[warning.level]({ persistence }, warning.message);
  return persistence;
}

/** `CONFIG GET name`'s value; throws when the server refuses or answers oddly. */
async function configValue(redis: RedisCaller, name: string): Promise<string> {
  const reply = await redis.call('CONFIG', 'GET', name);
  if (!Array.isArray(reply) || reply.length < 2 || typeof reply[1] !== 'string') throw new Error(`CONFIG GET ${name} answered ${JSON.stringify(reply)}`);
  return reply[1];
}
