import type { Logger } from 'pino';
import type { RunStore } from '../store/run-store.js';
import type { RunRecord } from '../runs/run-record.js';
import { deliveryDueAtMs, withoutQuery, type Delivery } from '../runs/delivery.js';
import type { DeliverySender } from './delivery-sender.js';
import { afterAttempt, type AttemptResult, type RetryPolicy } from './retry-policy.js';
import { relayBody, relayHeaders } from './relay-request.js';

export interface DeliveryWorkerOptions extends RetryPolicy {
  /** Attempts in flight at once, overall. */
  concurrency: number;
  /** Attempts in flight at once to one destination host (host:port). */
  perHost: number;
  /** How long a taken delivery is held before another instance may take it: longer than an attempt. */
  leaseMs: number;
  /** How often the store is asked for due deliveries (retries, other instances' leftovers). */
  scanIntervalMs: number;
  /** Signs deliveries; without it they go unsigned. */
  secret: string | undefined;
  /** This instance's name on leases. */
  instanceId: string;
  userAgent: string;
}

export interface DeliveryWorkerDeps {
  store: RunStore;
  sender: DeliverySender;
  logger: Logger;
  /** Told of every attempt's result (metrics). */
  onResult?: (result: AttemptResult) => void;
  now?: () => number;
  random?: () => number;
}

/** Compare-and-set rounds before a claim or a result write gives up (another write keeps winning). */
const MAX_CAS_ROUNDS = 8;
/** Retries due within this long get a timer here; later ones are found by the scan. */
const LOCAL_TIMER_HORIZON_MS = 60_000;

/**
 * Sends pending deliveries. Work comes from three places: a nudge from the write that created a
 * delivery here (no wait), a timer for this instance's own retries, and a scan of the store's
 * due index (other instances' leftovers, retries after a restart). Before an attempt the
 * delivery is leased through the store's compare-and-set, so with several instances one attempts
 * it at a time, and a dead instance's lease runs out and the delivery comes due again.
 * Attempts are bounded overall and per destination host; a delivery for a busy host waits
 * parked without taking an overall slot.
 */
export class DeliveryWorker {
  private readonly queue: string[] = [];
  /** Ids queued, parked or being handled: a second nudge of one of them is a no-op. */
  private readonly known = new Set<string>();
  private readonly parked = new Map<string, string[]>();
  private readonly hostActive = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly handling = new Set<Promise<void>>();
  private active = 0;
  private scanTimer: NodeJS.Timeout | undefined;
  private scanning = false;
  private stopped = false;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(
    private readonly deps: DeliveryWorkerDeps,
    private readonly options: DeliveryWorkerOptions,
  ) {
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
  }

  /** Starts the periodic scan (and runs one now). */
  start(): void {
    if (this.stopped || this.scanTimer) return;
    this.scanTimer = setInterval(() => void this.scan(), this.options.scanIntervalMs);
    this.scanTimer.unref();
    void this.scan();
  }

  /** A delivery of this run may be due: look at it now. */
  nudge(runId: string): void {
    if (this.stopped || this.known.has(runId)) return;
    this.known.add(runId);
    this.queue.push(runId);
    this.pump();
  }

  /**
   * Queues a run's failed delivery again (due now, its maximum age counted from now); a pending
   * or delivered one is left as it is. Resolves to the record as stored after.
   */
  async retryFailed(runId: string): Promise<RunRecord | undefined> {
    for (let round = 0; round < MAX_CAS_ROUNDS; round++) {
      const record = await this.deps.store.get(runId);
      const delivery = record?.delivery;
      if (!record || !delivery || delivery.status !== 'failed') return record;
      const nowMs = this.now();
      const { lease: _lease, ...rest } = delivery;
      const requeued: RunRecord = { ...record, rev: record.rev + 1, delivery: { ...rest, status: 'pending', dueAtMs: nowMs, queuedAtMs: nowMs } };
      if (await this.deps.store.compareAndSet(requeued, record.rev)) {
        this.nudge(runId);
        return requeued;
      }
    }
    return this.deps.store.get(runId);
  }

  /**
   * Stops taking work and cuts the attempts in flight (their results are not written: their
   * leases run out and they come due again, here after a restart or on another instance).
   */
  async close(): Promise<void> {
    this.stopped = true;
    this.deps.sender.close();
    if (this.scanTimer) clearInterval(this.scanTimer);
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.queue.length = 0;
    this.parked.clear();
    await Promise.allSettled([...this.handling]);
  }

  private async scan(): Promise<void> {
    // A full queue is work enough; overlapping scans would only queue the same ids twice.
    if (this.scanning || this.stopped || this.queue.length >= this.options.concurrency) return;
    this.scanning = true;
    try {
      const ids = await this.deps.store.listDueDeliveries(this.now(), this.options.concurrency * 4);
      for (const id of ids) this.nudge(id);
    } catch (error) {
      if (!this.stopped) this.deps.logger.warn({ err: error }, 'could not read due deliveries from the store');
    } finally {
      this.scanning = false;
    }
  }

  private pump(): void {
    while (!this.stopped && this.active < this.options.concurrency && this.queue.length > 0) {
      const id = this.queue.shift()!;
      this.active++;
      const work = this.handle(id)
        .catch((error: unknown) => {
          this.known.delete(id);
          if (!this.stopped) this.deps.logger.warn({ err: error, runId: id }, 'a delivery could not be handled; it is tried again later');
        })
        .finally(() => {
          this.active--;
          this.handling.delete(work);
          this.pump();
        });
      this.handling.add(work);
    }
  }

  private async handle(id: string): Promise<void> {
    const record = await this.deps.store.get(id);
    const delivery = record?.delivery;
    if (!record || !delivery || delivery.status !== 'pending') {
      this.known.delete(id);
      return;
    }
    const dueAtMs = deliveryDueAtMs(delivery)!;
    if (dueAtMs > this.now()) {
      this.known.delete(id);
      this.wakeAt(id, dueAtMs);
      return;
    }
    const host = hostOf(delivery.url);
    const busy = this.hostActive.get(host) ?? 0;
    if (busy >= this.options.perHost) {
      // Stays known: the host's next free slot brings it back.
      const waiting = this.parked.get(host) ?? [];
      waiting.push(id);
      this.parked.set(host, waiting);
      return;
    }
    this.hostActive.set(host, busy + 1);
    try {
      await this.attempt(record);
    } finally {
      this.known.delete(id);
      const left = (this.hostActive.get(host) ?? 1) - 1;
      if (left > 0) this.hostActive.set(host, left);
      else this.hostActive.delete(host);
      const next = this.parked.get(host)?.shift();
      if (this.parked.get(host)?.length === 0) this.parked.delete(host);
      if (next !== undefined && !this.stopped) {
        this.queue.unshift(next);
        this.pump();
      }
    }
  }

  /** Leases the delivery, sends it, and records what came of it. */
  private async attempt(read: RunRecord): Promise<void> {
    const claimed = await this.claim(read);
    if (!claimed || this.stopped) return;
    const delivery = claimed.delivery!;
    const body = relayBody(claimed, delivery);
    const sentAtMs = this.now();
    const outcome = await this.deps.sender.send(delivery.url, body, relayHeaders(body, delivery, this.options.secret, sentAtMs, this.options.userAgent));
    // Shutting down: what came of it is not written; the lease runs out and the delivery comes due again.
    if (this.stopped) return;
    const { delivery: next, result } = afterAttempt(delivery, outcome, this.now(), this.options, this.random);
    const written = await this.writeResult(claimed.run.id, delivery, next);
    this.deps.onResult?.(result);
    const logged = { runId: claimed.run.id, deliveryId: delivery.id, url: withoutQuery(delivery.url), attempts: next.attempts, status: next.lastStatus, error: next.lastError };
    if (result === 'delivered') this.deps.logger.debug(logged, 'delivered the final state to the caller');
    else if (result === 'retried') this.deps.logger.info({ ...logged, nextAttemptAt: new Date(next.dueAtMs ?? 0).toISOString() }, 'a delivery attempt failed; it is retried');
    else this.deps.logger.warn(logged, result === 'blocked' ? 'a delivery was blocked: its host resolves to a private address' : 'a delivery failed for good');
    if (written && next.status === 'pending' && next.dueAtMs !== undefined) this.wakeAt(claimed.run.id, next.dueAtMs);
  }

  /** Takes the lease through compare-and-set; undefined when the delivery is not (or no longer) ours to attempt. */
  private async claim(read: RunRecord): Promise<RunRecord | undefined> {
    let record: RunRecord | undefined = read;
    for (let round = 0; round < MAX_CAS_ROUNDS && record; round++) {
      const delivery = record.delivery;
      const nowMs = this.now();
      if (!delivery || delivery.status !== 'pending' || deliveryDueAtMs(delivery)! > nowMs) return undefined;
      const leased: RunRecord = {
        ...record,
        rev: record.rev + 1,
        delivery: { ...delivery, lease: { owner: this.options.instanceId, untilMs: nowMs + this.options.leaseMs } },
      };
      if (await this.deps.store.compareAndSet(leased, record.rev)) return leased;
      record = await this.deps.store.get(read.run.id);
    }
    return undefined;
  }

  /** Writes an attempt's result while the lease is still this instance's; false when it was not written. */
  private async writeResult(runId: string, attempted: Delivery, next: Delivery): Promise<boolean> {
    for (let round = 0; round < MAX_CAS_ROUNDS; round++) {
      const record = await this.deps.store.get(runId);
      const current = record?.delivery;
      // Gone, finished elsewhere, or our lease ran out and another instance holds it now.
      if (!record || !current || current.id !== attempted.id || current.status !== 'pending' || current.lease?.owner !== this.options.instanceId) {
        return false;
      }
      if (await this.deps.store.compareAndSet({ ...record, rev: record.rev + 1, delivery: next }, record.rev)) return true;
    }
    return false;
  }

  private wakeAt(id: string, atMs: number): void {
    const delayMs = atMs - this.now();
    if (this.stopped || this.timers.has(id) || delayMs > LOCAL_TIMER_HORIZON_MS) return;
    const timer = setTimeout(() => {
      this.timers.delete(id);
      this.nudge(id);
    }, Math.max(0, delayMs));
    timer.unref();
    this.timers.set(id, timer);
  }
}

/** The destination a per-host bound counts by. */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
