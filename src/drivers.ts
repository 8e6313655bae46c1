import type { Logger } from 'pino';
import { MemoryRunBus } from './bus/memory-run-bus.js';
import type { RunBus } from './bus/run-bus.js';
import type { ServeConfig } from './config/serve-config.js';
import type { LimitStore } from './limits/limit-store.js';
import { MemoryLimitStore } from './limits/memory-limit-store.js';
import { HeapPollSchedule } from './polling/heap-poll-schedule.js';
import type { PollSchedule } from './polling/poll-schedule.js';
import { MemoryRunStore } from './store/memory-run-store.js';
import { closeConnection, connectWithin, redisDbOf } from './redis/redis-connection.js';
import { warnIfNotPersistent } from './redis/redis-persistence.js';
import type { RunStore } from './store/run-store.js';
import { StoreUnreachableError } from './errors.js';
import { redactUrlPassword } from './util/redact-url.js';

/** The drivers that depend on where state lives, and one way to close them all. */
export interface Drivers {
  store: RunStore;
  bus: RunBus;
  schedule: PollSchedule;
  /** The gateway's own limits: per instance alone, shared by the cluster otherwise. */
  limits: LimitStore;
  /** Whether other instances share store and bus (Redis, PostgreSQL): then changes arrive that this one did not write. */
  shared: boolean;
  /** Closes limits, schedule, bus and store (in that order) and any connection they share. */
  close(): Promise<void>;
}

/**
 * Picks the drivers that `--store` names: one instance keeps bus and schedule in memory (with a
 * memory or SQLite store); Redis or PostgreSQL hold all three so several instances share them.
 * The Redis store and schedule share one command connection (which also publishes); the bus
 * subscribes on a second one, since a subscribed connection can do nothing else. PostgreSQL
 * likewise: one small pool for store, schedule and the bus's reads, one connection that LISTENs.
 * A shared store that does not answer at start is a StoreUnreachableError.
 */
export async function createDrivers(config: ServeConfig['store'], logger: Logger): Promise<Drivers> {
  switch (config.kind) {
    case 'memory':
      return local(new MemoryRunStore(), logger);
    case 'sqlite': {
      const { SqliteRunStore } = await import('./store/sqlite-run-store.js');
      let store: RunStore;
      try {
        store = SqliteRunStore.open(config.path);
      } catch (error) {
        // A folder that cannot be made or written, a file that is not a database: said in one line.
        throw new StoreUnreachableError(`cannot open the SQLite database ${config.path}: ${(error as Error).message}`, error);
      }
      return local(store, logger);
    }
    case 'redis':
      return redisDrivers(config.url, config.prefix, logger);
    case 'postgres':
      return postgresDrivers(config.url, logger);
  }
}

function local(store: RunStore, logger: Logger): Drivers {
  const bus = new MemoryRunBus(logger);
  const schedule = new HeapPollSchedule();
  const limits = new MemoryLimitStore();
  return withClose({ store, bus, schedule, limits, shared: false });
}

async function redisDrivers(url: string, prefix: string, logger: Logger): Promise<Drivers> {
  const [{ Redis }, { RedisRunStore }, { RedisRunBus, runChannel }, { RedisPollSchedule }, { RedisLimitStore }] = await Promise.all([
    import('ioredis'),
    import('./store/redis-run-store.js'),
    import('./bus/redis-run-bus.js'),
    import('./polling/redis-poll-schedule.js'),
    import('./limits/redis-limit-store.js'),
  ]);
  const log = logger.child({ component: 'redis' });
  const db = redisDbOf(url);
  // Connections are named after the prefix, so CLIENT LIST tells deployments (and tests) sharing
  // a server apart; Redis refuses names with spaces or non-ASCII characters.
  const clientName = prefix.replace(/[^!-~]/g, '_');
  // ioredis reads host, port, password and db from the URL itself.
  const commands = new Redis(url, { lazyConnect: true, connectionName: `${clientName}commands` });
  const subscriber = commands.duplicate({ connectionName: `${clientName}subscriber` });
  const quitAll = async () => {
    for (const connection of [subscriber, commands]) await closeConnection(connection);
  };
  try {
    // Failures to connect at start are connectWithin's to report, as one line naming --store.
    await connectWithin(commands, url);
    await connectWithin(subscriber, url);
    for (const [name, connection] of [['commands', commands], ['subscriber', subscriber]] as const) {
      // Without a listener ioredis prints every reconnect failure itself; it keeps reconnecting.
      connection.on('error', (error: Error) => log.warn({ err: error, connection: name }, 'Redis connection error'));
    }
    const store = new RedisRunStore({ redis: commands, prefix });
    const schedule = new RedisPollSchedule({ redis: commands, prefix });
    const limits = new RedisLimitStore({ redis: commands, prefix });
    const bus = await RedisRunBus.create({ publisher: commands, subscriber, channel: runChannel(prefix, db), logger: log });
    log.info({ db, prefix }, 'cluster mode: runs, fan-out, poll schedule and limits in Redis');
    // A Redis that keeps nothing on disk comes back empty from a restart: say so now, not then.
    await warnIfNotPersistent(commands, log);
    return withClose({ store, bus, schedule, limits, shared: true }, quitAll);
  } catch (error) {
    // The reason is in the error thrown; late reconnect errors need a listener but no log.
    for (const connection of [commands, subscriber]) connection.on('error', () => undefined);
    await quitAll();
    throw error;
  }
}

async function postgresDrivers(url: string, logger: Logger): Promise<Drivers> {
  const [connection, { migrate }, { LoggedChanges }, { PostgresRunStore }, { PostgresRunBus }, { PostgresPollSchedule }, { PostgresLimitStore }] = await Promise.all([
    import('./postgres/postgres-connection.js'),
    import('./postgres/postgres-schema.js'),
    import('./postgres/logged-changes.js'),
    import('./store/postgres-run-store.js'),
    import('./bus/postgres-run-bus.js'),
    import('./polling/postgres-poll-schedule.js'),
    import('./limits/postgres-limit-store.js'),
  ]);
  const log = logger.child({ component: 'postgres' });
  const pool = connection.createPostgresPool(url, { logger: log, applicationName: 'rungate' });
  try {
    try {
      await connection.connectPostgresWithin(pool, url);
    } catch (error) {
      throw new StoreUnreachableError((error as Error).message, error);
    }
    const { from, to } = await migrate(pool);
    if (from !== to) log.info({ from, to }, 'migrated the PostgreSQL schema');
    const loggedChanges = new LoggedChanges();
    const store = new PostgresRunStore({ pool, loggedChanges });
    const schedule = new PostgresPollSchedule({ pool });
    const bus = await PostgresRunBus.create({ pool, url, logger: log, applicationName: 'rungate-listener', loggedChanges });
    const limits = new PostgresLimitStore({ pool });
    log.info({ url: redactUrlPassword(url), schemaVersion: to }, 'cluster mode: runs, fan-out, poll schedule and limits in PostgreSQL');
    return withClose({ store, bus, schedule, limits, shared: true }, () => connection.closePool(pool));
  } catch (error) {
    await connection.closePool(pool);
    throw error;
  }
}

/** The drivers with their close: limits, schedule, bus and store in that order, then the connection they share. */
function withClose(parts: Omit<Drivers, 'close'>, closeConnection: () => Promise<void> = () => Promise.resolve()): Drivers {
  return {
    ...parts,
    async close() {
      await parts.limits.close();
      await parts.schedule.close();
      await parts.bus.close();
      await parts.store.close();
      await closeConnection();
    },
  };
}
