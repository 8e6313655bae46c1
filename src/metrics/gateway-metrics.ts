import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { UnfinishedCounts } from '../store/run-store.js';

/** Where scrape-time gauges read the gateway's state (wired by the composition root). */
export interface GatewayStateSources {
  /** Unfinished runs in the store, by status. */
  unfinishedCounts: () => Promise<UnfinishedCounts>;
  /** How many runs the hot cache holds. */
  cacheEntries: () => number;
  /** Runs waiting for their next poll. */
  scheduledPolls: () => Promise<number>;
  /** Doclo's X-RateLimit-Remaining as last seen; undefined before any answer carried it. */
  rateBudgetRemaining: () => number | undefined;
  /** Deliveries to callers' webhookUrls still pending, in the store. */
  pendingDeliveries?: () => Promise<number>;
}

/** Scrapes (and dashboards) within this long of each other share one read of the store. */
const STATE_READ_TTL_MS = 1000;

/**
 * Every Prometheus metric of one gateway, on a registry of its own (no global default registry,
 * so two gateways in one process — tests — do not collide).
 */
export class GatewayMetrics {
  readonly registry = new Registry();

  readonly webhooks = new Counter({
    name: 'rungate_webhooks_total',
    help: 'Webhooks received, by result (accepted, duplicate, unauthorized, malformed, too_large, stale_timestamp, error)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly polls = new Counter({
    name: 'rungate_polls_total',
    help: 'Fallback polls of upstream, by result (unfinished, final, not_found, error)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly upstreamRequests = new Counter({
    name: 'rungate_upstream_requests_total',
    help: 'Requests to Doclo, by route and HTTP status (or network/timeout)',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });
  readonly runsFinal = new Counter({
    name: 'rungate_runs_final_total',
    help: 'Runs that reached a final state, by where the final state came from (webhook, poll, request)',
    labelNames: ['source', 'status'] as const,
    registers: [this.registry],
  });
  readonly runsRecoveredByPoll = new Counter({
    name: 'rungate_runs_recovered_by_poll_total',
    help: 'Runs whose final state came from a poll because no webhook arrived (the webhook miss count)',
    registers: [this.registry],
  });
  readonly runsStale = new Counter({
    name: 'rungate_runs_stale_total',
    help: 'Runs the gateway gave up polling (max age reached, or upstream no longer knows them)',
    registers: [this.registry],
  });
  readonly storeResets = new Counter({
    name: 'rungate_store_resets_total',
    help: 'Losses of the shared store\'s data this instance noticed and recovered from (Redis restarted without persistence)',
    registers: [this.registry],
  });
  readonly runChanges = new Counter({
    name: 'rungate_run_changes_total',
    help: 'Accepted run state changes, by source',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  readonly relayDeliveries = new Counter({
    name: 'rungate_relay_deliveries_total',
    help: "Attempts to deliver final states to callers' own webhookUrl, by result (delivered, retried, failed, blocked)",
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly relayPending = new Gauge({
    name: 'rungate_relay_pending',
    help: "Deliveries to callers' own webhookUrl not yet delivered or failed",
    registers: [this.registry],
    collect: async () => {
      if (this.sources?.pendingDeliveries) this.relayPending.set(await this.sources.pendingDeliveries());
    },
  });
  readonly pollsScheduled = new Gauge({
    name: 'rungate_polls_scheduled',
    help: 'Unfinished runs waiting for their next poll',
    registers: [this.registry],
    collect: async () => {
      if (this.sources) this.pollsScheduled.set(await this.sources.scheduledPolls());
    },
  });
  readonly rateBudgetRemaining = new Gauge({
    name: 'rungate_upstream_rate_budget_remaining',
    help: "Upstream requests left in the current window, as Doclo's X-RateLimit-Remaining last said",
    registers: [this.registry],
    collect: () => {
      const remaining = this.sources?.rateBudgetRemaining();
      if (remaining !== undefined) this.rateBudgetRemaining.set(remaining);
    },
  });
  readonly wsConnections = new Gauge({ name: 'rungate_ws_connections', help: 'Open WebSocket connections', registers: [this.registry] });
  readonly wsSubscriptions = new Gauge({ name: 'rungate_ws_subscriptions', help: 'Active WebSocket subscriptions (runs and flows)', registers: [this.registry] });
  readonly wsMessagesSent = new Counter({ name: 'rungate_ws_messages_sent_total', help: 'Run messages written to WebSocket peers', registers: [this.registry] });
  readonly wsMessagesDropped = new Counter({
    name: 'rungate_ws_messages_dropped_total',
    help: 'Run messages not written because the peer was closing or too slow',
    registers: [this.registry],
  });
  readonly wsSlowConsumerCloses = new Counter({
    name: 'rungate_ws_slow_consumer_closes_total',
    help: 'Peers closed with 1013 because their unsent bytes passed the bound',
    registers: [this.registry],
  });
  readonly sseStreams = new Gauge({ name: 'rungate_sse_streams', help: 'Open Server-Sent Events streams', registers: [this.registry] });
  readonly sseEventsSent = new Counter({ name: 'rungate_sse_events_sent_total', help: 'Run events written to Server-Sent Events streams', registers: [this.registry] });
  readonly sseSlowConsumerCloses = new Counter({
    name: 'rungate_sse_slow_consumer_closes_total',
    help: 'Server-Sent Events consumers disconnected because their unsent bytes passed the bound',
    registers: [this.registry],
  });
  readonly progressPolls = new Counter({
    name: 'rungate_progress_polls_total',
    help: 'Polls of watched unfinished runs for their progress, by result (changed, unchanged, error, skipped_budget)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly cacheLookups = new Counter({
    name: 'rungate_cache_lookups_total',
    help: 'Hot cache lookups by result (hit, miss)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly clientLookupsRefused = new Counter({
    name: 'rungate_client_lookups_refused_total',
    help: 'Upstream lookups asked for by clients and refused by the lookup budget',
    registers: [this.registry],
  });
  readonly pushLatency = new Histogram({
    name: 'rungate_push_latency_seconds',
    help: 'From a webhook arriving to its change being written to subscribers',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  readonly runsTracked = new Gauge({
    name: 'rungate_runs_tracked',
    help: 'Unfinished runs the gateway follows, by status (queued, running; stale = given up on, no longer polled)',
    labelNames: ['status'] as const,
    registers: [this.registry],
    // State the gateway already keeps elsewhere is read when scraped, not mirrored: a mirror
    // would drift whenever another instance (cluster mode) moves a run on.
    collect: async () => {
      const counts = await this.trackedCounts();
      for (const status of TRACKED_STATUSES) this.runsTracked.set({ status }, counts[status]);
    },
  });
  readonly cacheEntries = new Gauge({
    name: 'rungate_cache_entries',
    help: 'Runs held in the hot cache',
    registers: [this.registry],
    collect: () => {
      if (this.sources) this.cacheEntries.set(this.sources.cacheEntries());
    },
  });

  private sources: GatewayStateSources | undefined;
  private unfinishedRead: { atMs: number; counts: Promise<Record<TrackedStatus, number>> } | undefined;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Tells the scrape-time gauges where to read; until then they report zero. */
  observeState(sources: GatewayStateSources): void {
    this.sources = sources;
  }

  /** Doclo's rate budget as last seen; undefined before any answer carried it. */
  rateBudget(): number | undefined {
    return this.sources?.rateBudgetRemaining();
  }

  /** Unfinished runs by status, read from the store at most once per STATE_READ_TTL_MS. */
  trackedCounts(): Promise<Record<TrackedStatus, number>> {
    const sources = this.sources;
    if (!sources) return Promise.resolve({ queued: 0, running: 0, stale: 0 });
    const nowMs = Date.now();
    if (!this.unfinishedRead || nowMs - this.unfinishedRead.atMs > STATE_READ_TTL_MS) {
      const counts = sources.unfinishedCounts();
      // A failed read must not be served from the memo to the next scrape.
      void counts.catch(() => {
        if (this.unfinishedRead?.counts === counts) this.unfinishedRead = undefined;
      });
      this.unfinishedRead = { atMs: nowMs, counts };
    }
    return this.unfinishedRead.counts;
  }

  /** The Prometheus text exposition of every metric, with its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** The statuses `rungate_runs_tracked` reports. */
export type TrackedStatus = 'queued' | 'running' | 'stale';
const TRACKED_STATUSES: readonly TrackedStatus[] = ['queued', 'running', 'stale'];
