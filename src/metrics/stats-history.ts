import { histogramQuantile, type CumulativeBucket } from './histogram-quantile.js';

/** The cumulative counters the history is made of, read at one moment. */
export interface StatsSnapshot {
  atMs: number;
  webhooks: number;
  finals: number;
  recoveredByPoll: number;
  upstreamCalls: number;
  upstream429: number;
  /** The push latency histogram (seconds), cumulative buckets. */
  pushLatency: CumulativeBucket[];
}

/** One minute of the last hour, as `/api/v1/stats` answers it under `history.minutes`. */
export interface MinuteStats {
  /** The minute's start (ISO 8601); the last one is the minute under way. */
  at: string;
  webhooks: number;
  /** Final states learnt by polling ÷ final states, within the minute; null when none ended. */
  webhookMissRate: number | null;
  /** Estimated from the minute's own histogram observations; null when there were none. */
  pushLatencyP99Ms: number | null;
  upstreamCalls: number;
  upstream429: number;
}

export interface StatsHistoryOptions {
  /** Reads the cumulative counters now. */
  read: () => Promise<StatsSnapshot>;
  now?: () => number;
  /** How many whole minutes are kept besides the one under way (default 60). */
  minutes?: number;
  /** Told when a read at a minute's boundary failed (it is tried again at the next). */
  onError?: (error: unknown) => void;
}

const MINUTE_MS = 60_000;

/**
 * The dashboard's charts of the last hour, from a small ring in memory: the cumulative counters
 * are read at every minute's boundary, and a minute's figures are the differences between its two
 * boundaries (the minute under way: between its start and now). 61 snapshots of a few numbers
 * each, whatever the traffic. Per instance, like the counters of `/metrics`; a restart starts an
 * empty hour.
 */
export class StatsHistory {
  private readonly ring: StatsSnapshot[] = [];
  private readonly now: () => number;
  private readonly keep: number;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly options: StatsHistoryOptions) {
    this.now = options.now ?? Date.now;
    this.keep = options.minutes ?? 60;
  }

  /** Takes the first snapshot and reads again at each minute's boundary until `close`. */
  async start(): Promise<void> {
    await this.sample();
    this.schedule();
  }

  close(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Adds a snapshot (at a boundary, or the first one); public for tests with their own clock. */
  record(snapshot: StatsSnapshot): void {
    this.ring.push(snapshot);
    while (this.ring.length > this.keep + 1) this.ring.shift();
  }

  /** The minutes kept, oldest first, the one under way last (from a snapshot read now). */
  async minutes(): Promise<MinuteStats[]> {
    const current = await this.options.read();
    const points = [...this.ring, current];
    const result: MinuteStats[] = [];
    for (let i = 1; i < points.length; i++) result.push(difference(points[i - 1]!, points[i]!));
    return result;
  }

  private schedule(): void {
    if (this.stopped) return;
    const nowMs = this.now();
    const next = Math.floor(nowMs / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
    this.timer = setTimeout(() => {
      // sample() catches its own errors.
      void this.sample().finally(() => this.schedule());
    }, next - nowMs + 5);
    this.timer.unref();
  }

  private async sample(): Promise<void> {
    try {
      this.record(await this.options.read());
    } catch (error) {
      this.options.onError?.(error);
    }
  }
}

/** The figures of the interval between two snapshots, labelled with the start of its minute. */
function difference(from: StatsSnapshot, to: StatsSnapshot): MinuteStats {
  const finals = to.finals - from.finals;
  const byPoll = to.recoveredByPoll - from.recoveredByPoll;
  const buckets = to.pushLatency.map((bucket) => ({ le: bucket.le, count: bucket.count - (from.pushLatency.find((b) => b.le === bucket.le)?.count ?? 0) }));
  const p99 = histogramQuantile(0.99, buckets);
  return {
    at: new Date(Math.floor(from.atMs / MINUTE_MS) * MINUTE_MS).toISOString(),
    webhooks: to.webhooks - from.webhooks,
    webhookMissRate: finals > 0 ? byPoll / finals : null,
    pushLatencyP99Ms: p99 === undefined ? null : Math.round(p99 * 1e6) / 1e3,
    upstreamCalls: to.upstreamCalls - from.upstreamCalls,
    upstream429: to.upstream429 - from.upstream429,
  };
}
