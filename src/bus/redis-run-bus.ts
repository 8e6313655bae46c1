import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { closeConnection } from '../redis/redis-connection.js';
import type { RunRecord } from '../runs/run-record.js';
import { notifyListeners, type RunBus, type RunListener } from './run-bus.js';

export interface RedisRunBusOptions {
  /** Publishes; may be shared with the store and the schedule (publish is an ordinary command). */
  publisher: Redis;
  /** A connection of its own: once subscribed, Redis lets it do nothing else. Quit on close. */
  subscriber: Redis;
  /** Channel name; pub/sub ignores the database number, so it must carry prefix and db. */
  channel: string;
  logger?: Logger;
  /** Quit the publisher on close (true when the bus is its only user). */
  ownsPublisher?: boolean;
}

/** The channel for a key prefix and database: pub/sub is global across a server's databases. */
export function runChannel(prefix: string, db: number): string {
  return `${prefix}db${db}:runs`;
}

/**
 * The cluster bus: run changes travel over Redis pub/sub. Local listeners are called only when a
 * message comes back from Redis, never directly from `publish`, so every instance (this one
 * included) sees the changes in the one order Redis delivers them. Pub/sub is fire-and-forget:
 * what is published while the subscriber connection is down is lost, so every time that
 * connection is ready again (after the first time) the resync listeners are told to reread state
 * from the store.
 */
export class RedisRunBus implements RunBus {
  private readonly listeners = new Set<RunListener>();
  private readonly resyncListeners = new Set<() => void>();
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly channel: string;
  private readonly logger: Logger | undefined;
  private readonly ownsPublisher: boolean;
  private subscribedOnce = false;
  private closed = false;

  private constructor(options: RedisRunBusOptions) {
    this.publisher = options.publisher;
    this.subscriber = options.subscriber;
    this.channel = options.channel;
    this.logger = options.logger;
    this.ownsPublisher = options.ownsPublisher ?? false;
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.deliver(message);
    });
    this.subscriber.on('ready', () => this.onReady());
  }

  /** Creates the bus and resolves once its channel subscription is in place. */
  static async create(options: RedisRunBusOptions): Promise<RedisRunBus> {
    const bus = new RedisRunBus(options);
    await bus.subscriber.subscribe(bus.channel);
    bus.subscribedOnce = true;
    return bus;
  }

  async publish(record: RunRecord): Promise<void> {
    if (this.closed) throw new Error('bus is closed');
    await this.publisher.publish(this.channel, JSON.stringify(record));
  }

  subscribe(listener: RunListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onResync(listener: () => void): () => void {
    this.resyncListeners.add(listener);
    return () => this.resyncListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    this.resyncListeners.clear();
    // Not QUIT while Redis is unreachable: it would wait for Redis to come back (see closeConnection).
    await closeConnection(this.subscriber);
    if (this.ownsPublisher) await closeConnection(this.publisher);
  }

  private deliver(message: string): void {
    if (this.closed) return;
    let record: RunRecord;
    try {
      record = JSON.parse(message) as RunRecord;
    } catch (error) {
      this.logger?.warn({ err: error }, 'ignored a malformed message on the run channel');
      return;
    }
    notifyListeners(this.listeners, record, this.logger);
  }

  /** After a reconnect: make sure the channel is subscribed, then have everyone catch up. */
  private onReady(): void {
    if (!this.subscribedOnce || this.closed) return;
    // ioredis resubscribes by itself too; waiting for our own SUBSCRIBE's reply means the
    // subscription is live before anyone rereads the store, so nothing falls in between.
    this.subscriber.subscribe(this.channel).then(
      () => {
        if (this.closed) return;
        this.logger?.warn({ channel: this.channel }, 'run channel reconnected; resynchronising from the store');
        for (const listener of this.resyncListeners) {
          try {
            listener();
          } catch (error) {
            this.logger?.error({ err: error }, 'resync listener failed');
          }
        }
      },
      (error: unknown) => this.logger?.error({ err: error }, 'resubscribing to the run channel failed'),
    );
  }
}
