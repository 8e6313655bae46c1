import type { Logger } from 'pino';
import type { RunBus } from '../bus/run-bus.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { isFinal } from '../runs/run.js';
import type { RunWriter } from '../tracking/run-writer.js';
import type { RunStore } from '../store/run-store.js';
import type { RunRecord } from '../runs/run-record.js';
import { UpstreamError } from '../upstream/upstream-error.js';
import type { Upstream } from '../upstream/upstream.js';
import type { PollSchedule } from './poll-schedule.js';
import { nextPollDelayMs } from './poll-timing.js';
import type { FinalVia, RecoveryPlanner } from './recovery-planner.js';
import { resumeUnfinished } from './resume-unfinished.js';

/** The longest close() waits for polls in flight (see close). */
const CLOSE_WAIT_MS = 1000;

export interface PollerOptions {
  intervalMs: number;
  maxIntervalMs: number;
  maxAgeMs: number;
  concurrency: number;
  /** How long a taken poll is leased before another taker may have it (cluster crash safety). */
  leaseMs?: number;
  /** Longest sleep between looks at the schedule (other instances may add runs). */
  maxSleepMs?: number;
}

interface PollerDeps {
  store: RunStore;
  writer: RunWriter;
  upstream: Upstream;
  schedule: PollSchedule;
  planner: RecoveryPlanner;
  bus: RunBus;
  metrics: GatewayMetrics;
  logger: Logger;
  now?: () => number;
  random?: () => number;
}

/**
 * The fallback for lost webhooks. Every unfinished run the gateway hears of (through the bus, so
 * starts, lookups, subscriptions and webhooks alike) is scheduled for polls at the ages its flow's
 * plan gives (recovery-planner.ts: learnt from run durations and how often webhooks go missing);
 * past the plan's end it is polled again with growing, jittered intervals; at a final state it
 * leaves the schedule; past the maximum age it is marked stale. At most
 * `concurrency` polls are in flight, and the upstream client's rate budget paces them.
 */
export class Poller {
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly leaseMs: number;
  private readonly maxSleepMs: number;
  private readonly unsubscribe: () => void;
  private readonly inFlight = new Set<string>();
  private readonly pending = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  /** Aborted at close: polls waiting on upstream (a Retry-After, a backoff) stop at once. */
  private readonly stopping = new AbortController();
  private armedAtMs = Infinity;
  private ticking = false;
  private closed = false;

  constructor(
    private readonly deps: PollerDeps,
    private readonly options: PollerOptions,
  ) {
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.maxSleepMs = options.maxSleepMs ?? 1000;
    this.unsubscribe = deps.bus.subscribe((record) => this.onChange(record));
  }

  /** Schedules every unfinished run in the store for a prompt, jittered poll (after a restart). */
  async start(): Promise<number> {
    const scheduled = await resumeUnfinished({ store: this.deps.store, schedule: this.deps.schedule, now: this.now, random: this.random });
    this.arm(0);
    return scheduled;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    if (this.timer) clearTimeout(this.timer);
    this.stopping.abort();
    // Polls end promptly once upstream waits are aborted, unless the store does not answer (Redis
    // down: its commands wait for it to come back). Shutdown must not wait for that: a poll left
    // behind writes nothing once the store's connection is closed, and its lease lets the run
    // come due again for whichever instance polls next.
    let timer: NodeJS.Timeout | undefined;
    const giveUp = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CLOSE_WAIT_MS);
      timer.unref();
    });
    await Promise.race([Promise.allSettled([...this.pending]), giveUp]);
    clearTimeout(timer);
  }

  private onChange(record: RunRecord): void {
    const { run } = record;
    if (isFinal(run.status)) {
      this.deps.planner.observeFinal(run.flowId, run.id, timeToFinalMs(record), finalVia(record), webhookArrivalAgeMs(record));
      this.track(this.deps.schedule.remove(run.id));
      return;
    }
    if (run.stale) return;
    const dueAtMs = Math.max(record.trackedAtMs + this.deps.planner.firstPollAgeMs(run.flowId), this.now() + 100);
    this.track(
      this.deps.schedule.add(run.id, dueAtMs).then(() => this.arm(dueAtMs - this.now())),
    );
  }

  /** Makes sure a tick happens within `delayMs` (never later than maxSleepMs from now). */
  private arm(delayMs: number): void {
    if (this.closed) return;
    const delay = Math.max(0, Math.min(delayMs, this.maxSleepMs));
    const at = this.now() + delay;
    if (this.timer && at >= this.armedAtMs) return;
    if (this.timer) clearTimeout(this.timer);
    this.armedAtMs = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.armedAtMs = Infinity;
      this.track(this.tick());
    }, delay);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.closed) return;
    this.ticking = true;
    try {
      while (!this.closed) {
        const free = this.options.concurrency - this.inFlight.size;
        if (free <= 0) break;
        const ids = await this.deps.schedule.takeDue(this.now(), free, this.leaseMs);
        if (ids.length === 0) break;
        for (const id of ids) {
          if (this.inFlight.has(id)) continue;
          this.inFlight.add(id);
          this.track(
            this.pollOne(id).finally(() => {
              this.inFlight.delete(id);
              this.arm(0);
            }),
          );
        }
      }
      const next = await this.deps.schedule.nextDueAtMs();
      this.arm(next === undefined ? this.maxSleepMs : next - this.now());
    } catch (error) {
      this.deps.logger.error({ err: error }, 'poll schedule failed');
      this.arm(this.maxSleepMs);
    } finally {
      this.ticking = false;
    }
  }

  private async pollOne(id: string): Promise<void> {
    const { store, schedule, upstream, writer, metrics, logger } = this.deps;
    try {
      const record = await store.get(id);
      if (!record || isFinal(record.run.status) || record.run.stale) {
        await schedule.remove(id);
        return;
      }
      const trackedForMs = this.now() - record.trackedAtMs;
      if (trackedForMs > this.options.maxAgeMs) {
        await this.giveUp(id, 'max_age');
        return;
      }
      // The plan was made when the run was first seen; what finished since may have moved its
      // first poll later. Before it, the webhook is not late yet: look again later, for free.
      const firstAgeMs = this.deps.planner.firstPollAgeMs(record.run.flowId);
      if (record.startedHere && trackedForMs < firstAgeMs) {
        await schedule.set(id, record.trackedAtMs + firstAgeMs);
        return;
      }
      let execution;
      try {
        execution = await upstream.getRun(id, { priority: 'low', signal: this.stopping.signal });
      } catch (error) {
        if (this.closed) return;
        if (error instanceof UpstreamError && error.kind === 'not_found') {
          metrics.polls.inc({ result: 'not_found' });
          await this.giveUp(id, 'upstream_not_found');
          return;
        }
        metrics.polls.inc({ result: 'error' });
        const retryAfterMs = error instanceof UpstreamError ? (error.retryAfterMs ?? 0) : 0;
        logger.warn({ runId: id, err: error }, 'poll failed; will retry');
        await schedule.set(id, this.now() + Math.max(retryAfterMs, nextPollDelayMs(trackedForMs, this.options, this.random)));
        return;
      }
      const result = await writer.apply(execution, 'poll');
      const status = result.record?.run.status;
      if (status !== undefined && isFinal(status)) {
        metrics.polls.inc({ result: 'final' });
        if (result.kind === 'changed') {
          metrics.runsRecoveredByPoll.inc();
          logger.info({ runId: id, status }, 'final state recovered by polling (no webhook)');
        }
        await schedule.remove(id);
        return;
      }
      metrics.polls.inc({ result: 'unfinished' });
      // Still running: evidence that the flow's runs last longer than this. The next poll is the
      // plan's next point; past the plan, the intervals grow.
      const ageMs = this.now() - record.trackedAtMs;
      this.deps.planner.observeUnfinished(record.run.flowId, id, ageMs);
      const nextAgeMs = this.deps.planner.nextPollAgeMs(record.run.flowId, ageMs);
      await schedule.set(id, nextAgeMs !== undefined ? record.trackedAtMs + nextAgeMs : this.now() + nextPollDelayMs(ageMs, this.options, this.random));
    } catch (error) {
      // Store trouble: leave the lease to expire so the run comes due again.
      logger.error({ runId: id, err: error }, 'poll failed');
    }
  }

  private async giveUp(id: string, reason: string): Promise<void> {
    await this.deps.schedule.remove(id);
    const result = await this.deps.writer.apply({ id }, 'poll', { stale: true });
    if (result.kind === 'changed') {
      this.deps.metrics.runsStale.inc();
      this.deps.logger.warn({ runId: id, reason }, 'stopped polling a run; marked stale');
    }
  }

  private track(promise: Promise<unknown>): void {
    const settled = promise.then(
      () => undefined,
      (error: unknown) => this.deps.logger.error({ err: error }, 'poller task failed'),
    );
    this.pending.add(settled);
    void settled.finally(() => this.pending.delete(settled));
  }
}

/** Whose news ended the run: a webhook, a poll (the webhook went missing), or something else. */
function finalVia(record: RunRecord): FinalVia {
  const { source } = record.run;
  return source === 'webhook' ? 'webhook' : source === 'poll' ? 'poll' : 'other';
}

/**
 * How long a run took to reach its final state: Doclo's own measure where it gives one (no clock
 * skew, no delivery delay), else as seen from the gateway.
 */
function timeToFinalMs(record: RunRecord): number {
  const { run } = record;
  if (typeof run.duration === 'number') return run.duration;
  const created = Date.parse(run.createdAt ?? '');
  const completed = Date.parse(run.completedAt ?? run.cancelledAt ?? '');
  if (Number.isFinite(created) && Number.isFinite(completed)) return completed - created;
  return record.startedHere ? record.updatedAtMs - record.trackedAtMs : NaN;
}

/** Started here and ended by webhook: when the webhook came, on the gateway's own clock. */
function webhookArrivalAgeMs(record: RunRecord): number | undefined {
  return record.startedHere && record.run.source === 'webhook' ? record.updatedAtMs - record.trackedAtMs : undefined;
}
