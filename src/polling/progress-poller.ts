import type { Logger } from 'pino';
import type { RunBus } from '../bus/run-bus.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { isFinal } from '../runs/run.js';
import type { RunRecord } from '../runs/run-record.js';
import type { RunStore } from '../store/run-store.js';
import type { FollowedRuns } from '../tracking/resync.js';
import type { RunWriter } from '../tracking/run-writer.js';
import { UpstreamError } from '../upstream/upstream-error.js';
import type { Upstream } from '../upstream/upstream.js';
import { TokenBucket } from '../util/token-bucket.js';

/** The flow id that stands for every flow (a `*` subscriber watches every run). */
const EVERY_FLOW = '*';

export interface ProgressPollerOptions {
  /** About how often a watched unfinished run is polled (`--progress-poll-ms`). */
  intervalMs: number;
  /** Most progress polls per minute over all runs together (`--progress-poll-per-minute`). */
  perMinute: number;
  /** Progress polls in flight at once. */
  concurrency?: number;
}

export interface ProgressPollerDeps {
  bus: Pick<RunBus, 'subscribe'>;
  store: Pick<RunStore, 'listUnfinished'>;
  upstream: Pick<Upstream, 'getRun'>;
  writer: Pick<RunWriter, 'apply'>;
  /** What live subscribers (WebSocket and SSE) follow right now: run ids, and flows (`*` = all). */
  watched: () => FollowedRuns;
  metrics: Pick<GatewayMetrics, 'progressPolls'>;
  logger: Logger;
  now?: () => number;
}

interface Tracked {
  flowId: string;
  /** When the run was last polled, by anyone (a poll answer that changed it counts too). */
  polledAtMs: number;
}

/**
 * Progress for watched runs (contract section 4): an unfinished run that at least one live
 * subscriber follows — by its id, its flow or `*` — is polled about every `intervalMs`, one poll
 * for all its watchers however many there are, so they see `running` and `progress` even when
 * Doclo sends only a completion webhook. Runs nobody watches cost nothing. Polling a run stops
 * when its last watcher leaves or it ends. Answers go through the one write path (source `poll`).
 *
 * Budgeted: at most `perMinute` polls a minute in total (the least recently polled first), each
 * at low priority (they leave Doclo's last requests of a window to starts and cancels) and never
 * sleeping through a rate-limit pause longer than one interval.
 */
export class ProgressPoller {
  private readonly now: () => number;
  private readonly unfinished = new Map<string, Tracked>();
  private readonly byFlow = new Map<string, Set<string>>();
  private readonly inFlight = new Set<string>();
  private readonly budget: TokenBucket;
  private readonly concurrency: number;
  private readonly stopping = new AbortController();
  private readonly unsubscribe: () => void;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly deps: ProgressPollerDeps,
    private readonly options: ProgressPollerOptions,
  ) {
    this.now = deps.now ?? Date.now;
    this.budget = new TokenBucket(options.perMinute, 60_000, this.now);
    this.concurrency = options.concurrency ?? 8;
    this.unsubscribe = deps.bus.subscribe((record) => this.onChange(record));
  }

  /** Learns the unfinished runs already in the store, then starts ticking. */
  async start(): Promise<void> {
    for (const record of await this.deps.store.listUnfinished()) this.onChange(record, false);
    if (this.closed) return;
    // A quarter of the interval: a run newly watched waits at most that long for its first poll.
    const tickMs = Math.max(25, Math.min(1000, Math.floor(this.options.intervalMs / 4)));
    this.timer = setInterval(() => this.tick(), tickMs);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    this.unsubscribe();
    if (this.timer) clearInterval(this.timer);
    this.stopping.abort();
  }

  /** Unfinished runs some subscriber watches now. */
  watchedRunIds(): string[] {
    const { runIds, flowIds } = this.deps.watched();
    if (flowIds.includes(EVERY_FLOW)) return [...this.unfinished.keys()];
    const ids = new Set<string>();
    for (const id of runIds) if (this.unfinished.has(id)) ids.add(id);
    for (const flowId of flowIds) for (const id of this.byFlow.get(flowId) ?? []) ids.add(id);
    return [...ids];
  }

  /** One pass: polls the watched runs whose interval has passed, least recently polled first. */
  tick(): void {
    if (this.closed) return;
    const nowMs = this.now();
    const due = this.watchedRunIds()
      .filter((id) => !this.inFlight.has(id) && nowMs - this.unfinished.get(id)!.polledAtMs >= this.options.intervalMs)
      .sort((a, b) => this.unfinished.get(a)!.polledAtMs - this.unfinished.get(b)!.polledAtMs);
    for (const id of due) {
      if (this.inFlight.size >= this.concurrency) return;
      if (!this.budget.tryTake()) {
        this.deps.metrics.progressPolls.inc({ result: 'skipped_budget' });
        return;
      }
      this.unfinished.get(id)!.polledAtMs = nowMs;
      this.inFlight.add(id);
      void this.poll(id).finally(() => this.inFlight.delete(id));
    }
  }

  private async poll(id: string): Promise<void> {
    const { upstream, writer, metrics, logger } = this.deps;
    try {
      const execution = await upstream.getRun(id, { priority: 'low', signal: this.stopping.signal, maxWaitMs: this.options.intervalMs });
      const result = await writer.apply(execution, 'poll');
      metrics.progressPolls.inc({ result: result.kind === 'changed' ? 'changed' : 'unchanged' });
    } catch (error) {
      if (this.closed) return;
      metrics.progressPolls.inc({ result: 'error' });
      // The fallback poller owns runs that fail or that Doclo forgot; progress is best effort.
      if (!(error instanceof UpstreamError && error.kind === 'not_found')) logger.debug({ err: error, runId: id }, 'progress poll failed');
    }
  }

  private onChange(record: RunRecord, fromBus = true): void {
    const { id, flowId, status, stale, source } = record.run;
    if (isFinal(status) || stale) {
      this.forget(id);
      return;
    }
    const known = this.unfinished.get(id);
    if (known) {
      // A poll answer published by any instance is as fresh as one of this instance's own.
      if (fromBus && source === 'poll') known.polledAtMs = Math.max(known.polledAtMs, this.now());
      return;
    }
    // A run heard of just now (a start, a lookup, a poll) is as fresh as a poll: its first progress
    // poll comes one interval later. Runs found in the store at start are due at once.
    this.unfinished.set(id, { flowId, polledAtMs: fromBus ? this.now() : 0 });
    let flowRuns = this.byFlow.get(flowId);
    if (!flowRuns) this.byFlow.set(flowId, (flowRuns = new Set()));
    flowRuns.add(id);
  }

  private forget(id: string): void {
    const known = this.unfinished.get(id);
    if (!known) return;
    this.unfinished.delete(id);
    const flowRuns = this.byFlow.get(known.flowId);
    flowRuns?.delete(id);
    if (flowRuns?.size === 0) this.byFlow.delete(known.flowId);
  }
}
