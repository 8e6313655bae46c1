import pg from 'pg';
import type { Logger } from 'pino';

/** Reconnect backoff: from this, doubling, up to the next; with jitter. */
const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 2000;

export interface ListenConnectionOptions {
  url: string;
  channel: string;
  /** application_name of the connection (shown in pg_stat_activity). */
  applicationName: string;
  /** Called for every notification on the channel (its payload is not needed). */
  onNotify: () => void;
  /** Called each time the connection is back after a loss, listening again: what was announced meanwhile is missed. */
  onReconnect: () => void;
  logger?: Logger;
}

/**
 * A dedicated connection that LISTENs on one channel (a pooled one would be handed to others
 * between queries) and, when it drops — a network blip, a database restart — reconnects with
 * backoff and jitter and LISTENs again, for as long as it is open.
 */
export class ListenConnection {
  private client: pg.Client | undefined;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  private constructor(private readonly options: ListenConnectionOptions) {}

  /** Connects and listens; rejects when the first attempt fails. */
  static async open(options: ListenConnectionOptions): Promise<ListenConnection> {
    const connection = new ListenConnection(options);
    await connection.connect();
    return connection;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.options.url,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      connectionTimeoutMillis: 5000,
      application_name: this.options.applicationName,
    });
    client.on('notification', (message) => {
      if (message.channel === this.options.channel && !this.closed) this.options.onNotify();
    });
    // pg emits 'error' and then 'end' for a connection the server drops; either starts a reconnect.
    client.on('error', (error: Error) => this.lost(client, error));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${client.escapeIdentifier(this.options.channel)}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
  }

  private lost(client: pg.Client, error?: Error): void {
    if (client !== this.client || this.closed) return;
    this.client = undefined;
    this.options.logger?.warn({ err: error }, 'change log listener lost its connection; reconnecting');
    client.end().catch(() => undefined);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.timer) return;
    const step = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** Math.min(this.attempt++, 10));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.connect().then(
        () => {
          if (this.closed) return;
          this.attempt = 0;
          this.options.onReconnect();
        },
        (error: unknown) => {
          this.options.logger?.debug({ err: error }, 'change log listener could not reconnect yet');
          this.scheduleReconnect();
        },
      );
    }, step / 2 + Math.random() * (step / 2));
    this.timer.unref();
  }
}
