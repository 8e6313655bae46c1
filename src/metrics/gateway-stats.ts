import type { Counter, Gauge, Histogram } from 'prom-client';
import type { GatewayMetrics, TrackedStatus } from './gateway-metrics.js';
import { histogramQuantile, type CumulativeBucket } from './histogram-quantile.js';
import type { MinuteStats, StatsHistory, StatsSnapshot } from './stats-history.js';

/** The dashboard's counters: a summary of GatewayMetrics since the gateway started. */
export interface GatewayStats {
  /** When the numbers were read (ISO 8601). */
  at: string;
  webhooks: {
    /** Every webhook POST that got an answer, whatever the answer. */
    received: number;
    accepted: number;
    duplicate: number;
    /** Refused: bad signature, malformed, too large, stale timestamp. */
    rejected: number;
  };
  runs: {
    /** Runs that reached a final state (any source). */
    final: number;
    /** Final states learnt by polling because no webhook came. */
    recoveredByPoll: number;
    /** recoveredByPoll ÷ final; null before any run ended. */
    webhookMissRate: number | null;
    /** Runs given up on (max age, or upstream forgot them). */
    stale: number;
    /** Unfinished runs by status, from the store. */
    tracked: Record<TrackedStatus, number>;
  };
  polls: { total: number; byResult: Record<string, number> };
  upstream: {
    requests: number;
    /** Answers with status 429. */
    rateLimited: number;
    /** Requests by route (start, get, cancel). */
    byRoute: Record<string, number>;
    /** X-RateLimit-Remaining as last seen; null before Doclo said. */
    rateBudgetRemaining: number | null;
  };
  ws: { connections: number; subscriptions: number; messagesSent: number; messagesDropped: number; slowConsumerCloses: number };
  pushLatency: {
    /** Changes from webhooks written to subscribers. */
    count: number;
    /** Estimated from the histogram's buckets; null before any observation. */
    p50Ms: number | null;
    p99Ms: number | null;
  };
  /** The last hour per minute, oldest first, the minute under way last (this instance's). */
  history: { minutes: MinuteStats[] };
}

const WEBHOOK_OK = new Set(['accepted', 'duplicate']);

/** Reads the metrics a dashboard shows; cheap, except `runs.tracked` (a memoised store read). */
export async function readGatewayStats(metrics: GatewayMetrics, history?: Pick<StatsHistory, 'minutes'>): Promise<GatewayStats> {
  const webhooks = await byLabel(metrics.webhooks, 'result');
  const upstreamValues = (await metrics.upstreamRequests.get()).values;
  const byRoute: Record<string, number> = {};
  let rateLimited = 0;
  for (const { labels, value } of upstreamValues) {
    const route = String(labels.route ?? 'unknown');
    byRoute[route] = (byRoute[route] ?? 0) + value;
    if (String(labels.status) === '429') rateLimited += value;
  }
  const polls = await byLabel(metrics.polls, 'result');
  const final = await total(metrics.runsFinal);
  const recoveredByPoll = await total(metrics.runsRecoveredByPoll);
  const latency = await histogram(metrics.pushLatency);
  const budget = metrics.rateBudget();
  return {
    at: new Date().toISOString(),
    webhooks: {
      received: sum(webhooks),
      accepted: webhooks.accepted ?? 0,
      duplicate: webhooks.duplicate ?? 0,
      rejected: sum(Object.fromEntries(Object.entries(webhooks).filter(([result]) => !WEBHOOK_OK.has(result)))),
    },
    runs: {
      final,
      recoveredByPoll,
      webhookMissRate: final > 0 ? recoveredByPoll / final : null,
      stale: await total(metrics.runsStale),
      tracked: await metrics.trackedCounts(),
    },
    polls: { total: sum(polls), byResult: polls },
    upstream: { requests: sum(byRoute), rateLimited, byRoute, rateBudgetRemaining: budget ?? null },
    ws: {
      connections: await total(metrics.wsConnections),
      subscriptions: await total(metrics.wsSubscriptions),
      messagesSent: await total(metrics.wsMessagesSent),
      messagesDropped: await total(metrics.wsMessagesDropped),
      slowConsumerCloses: await total(metrics.wsSlowConsumerCloses),
    },
    pushLatency: {
      count: latency.count,
      p50Ms: toMs(histogramQuantile(0.5, latency.buckets)),
      p99Ms: toMs(histogramQuantile(0.99, latency.buckets)),
    },
    history: { minutes: history ? await history.minutes() : [] },
  };
}

/** The cumulative counters the hour's history is made of (see StatsHistory). */
export async function readStatsSnapshot(metrics: GatewayMetrics, nowMs = Date.now()): Promise<StatsSnapshot> {
  let upstreamCalls = 0;
  let upstream429 = 0;
  for (const { labels, value } of (await metrics.upstreamRequests.get()).values) {
    upstreamCalls += value;
    if (String(labels.status) === '429') upstream429 += value;
  }
  return {
    atMs: nowMs,
    webhooks: await total(metrics.webhooks),
    finals: await total(metrics.runsFinal),
    recoveredByPoll: await total(metrics.runsRecoveredByPoll),
    upstreamCalls,
    upstream429,
    pushLatency: (await histogram(metrics.pushLatency)).buckets,
  };
}

type Metric = Counter<string> | Gauge<string>;

async function total(metric: Metric): Promise<number> {
  return (await metric.get()).values.reduce((acc, { value }) => acc + value, 0);
}

async function byLabel(metric: Metric, label: string): Promise<Record<string, number>> {
  const result: Record<string, number> = {};
  for (const { labels, value } of (await metric.get()).values) {
    const key = String(labels[label] ?? 'unknown');
    result[key] = (result[key] ?? 0) + value;
  }
  return result;
}

function sum(values: Record<string, number>): number {
  return Object.values(values).reduce((acc, value) => acc + value, 0);
}

async function histogram(metric: Histogram<string>): Promise<{ count: number; buckets: CumulativeBucket[] }> {
  const buckets: CumulativeBucket[] = [];
  let count = 0;
  for (const { metricName, labels, value } of (await metric.get()).values) {
    if (metricName?.endsWith('_bucket')) buckets.push({ le: labels.le === '+Inf' ? Infinity : Number(labels.le), count: value });
    else if (metricName?.endsWith('_count')) count = value;
  }
  return { count, buckets };
}

function toMs(seconds: number | undefined): number | null {
  return seconds === undefined ? null : Math.round(seconds * 1e6) / 1e3;
}
