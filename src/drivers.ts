import type { Logger } from 'pino';
import { MemoryRunBus } from './bus/memory-run-bus.js';
import type { RunBus } from './bus/run-bus.js';
import type { ServeConfig } from './config/serve-config.js';
import { HeapPollSchedule } from './polling/heap-poll-schedule.js';
import type { PollSchedule } from './polling/poll-schedule.js';
import { MemoryRunStore } from './store/memory-run-store.js';
import { closeConnection, connectWithin, redisDbOf } from './redis/redis-connection.js';
import type { RunStore } from './store/run-store.js';
import { StoreUnreachableError } from './errors.js';

/** The three drivers that depend on where state lives, and one way to close them all. */
export interface Drivers {
  store: RunStore;
  bus: RunBus;
  schedule: PollSchedule;
  /** Closes schedule, bus and store (in that order) and any connection they share. */
  close(): Promise<void>;
}

/**
 * Picks the drivers that `--store` names: one instance keeps bus and schedule in memory (with a
 * memory or SQLite store); Redis puts all three in Redis so several instances share them. The
 * Redis store and schedule share one command connection (which also publishes); the bus
 * subscribes on a second one, since a subscribed connection can do nothing else.
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
  }
}

function local(store: RunStore, logger: Logger): Drivers {
  const bus = new MemoryRunBus(logger);
  const schedule = new HeapPollSchedule();
  return {
    store,
    bus,
    schedule,
    async close() {
      await schedule.close();
      await bus.close();
      await store.close();
    },
  };
}

async function redisDrivers(url: string, prefix: string, logger: Logger): Promise<Drivers> {
  const [{ Redis }, { RedisRunStore }, { RedisRunBus, runChannel }, { RedisPollSchedule }] = await Promise.all([
    import('ioredis'),
    import('./store/redis-run-store.js'),
    import('./bus/redis-run-bus.js'),
    import('./polling/redis-poll-schedule.js'),
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
    const bus = await RedisRunBus.create({ publisher: commands, subscriber, channel: runChannel(prefix, db), logger: log });
    log.info({ db, prefix }, 'cluster mode: runs, fan-out and poll schedule in Redis');
    return {
      store,
      bus,
      schedule,
      async close() {
        await schedule.close();
        await bus.close();
        await store.close();
        await quitAll();
      },
    };
  } catch (error) {
    // The reason is in the error thrown; late reconnect errors need a listener but no log.
    for (const connection of [commands, subscriber]) connection.on('error', () => undefined);
    await quitAll();
    throw error;
  }
}

