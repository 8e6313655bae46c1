import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { canRead, mayLookUpstream, type Principal } from '../auth/principal.js';
import type { RunBus } from '../bus/run-bus.js';
import { LookupBudgetError, RungateError } from '../errors.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { isFinal, type Run } from '../runs/run.js';
import type { RunRecord } from '../runs/run-record.js';
import type { RunLookup } from '../tracking/run-lookup.js';
import type { FollowedRuns, RunFollower } from '../tracking/resync.js';
import { SseStream, runSseEvent, type SseEvent } from './sse-stream.js';
import { SubscriptionIndex } from './subscription-index.js';

export interface SseHubOptions {
  /** A comment line goes to every stream this often (contract: at least every 30 s). */
  keepAliveMs: number;
  /** Unsent bytes a consumer may have before it is disconnected. */
  maxBufferedBytes: number;
  /** The clock (epoch ms) for token expiry. */
  now?: () => number;
}

export interface SseHubDeps {
  bus: Pick<RunBus, 'subscribe'>;
  lookup: Pick<RunLookup, 'find' | 'findLocalReadable'>;
  metrics: GatewayMetrics;
  logger: Logger;
}

/** How a run stream's opening went, when it did not become a stream. */
export type RunStreamRefusal = 'no_content';

/** setTimeout holds at most ~24.8 days. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Server-Sent Events (contract section 9), on the same subscription index, seq rules and resync
 * as the WebSocket hub: each bus change (or record a resync rereads) reaches exactly the streams
 * that follow its run or flow and may read it, serialised once. A run stream opens with the
 * run's latest state (when newer than what the consumer has) and ends after its final state; a
 * flow stream carries the flow's runs from then on.
 */
export class SseHub implements RunFollower {
  private readonly index: SubscriptionIndex<SseStream>;
  private readonly streams = new Map<SseStream, () => void>();
  private readonly unsubscribeBus: () => void;
  private readonly keepAlive: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(
    private readonly deps: SseHubDeps,
    private readonly options: SseHubOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.index = new SubscriptionIndex();
    this.unsubscribeBus = deps.bus.subscribe((record) => this.offer(record));
    this.keepAlive = setInterval(() => {
      for (const stream of this.streams.keys()) stream.keepAlive();
    }, options.keepAliveMs);
    this.keepAlive.unref();
  }

  /**
   * Opens the stream of one run. Throws a RungateError (answered as HTTP, before any event) for
   * a run that does not exist (404), may not be read (403), or cannot be looked up now (429,
   * 503); resolves `no_content` when the run is final and the consumer already has its final
   * state (answered 204, which tells EventSource not to reconnect).
   */
  async openRun(res: ServerResponse, principal: Principal | undefined, runId: string, since: number | undefined): Promise<RunStreamRefusal | undefined> {
    const stream = this.createStream(res, principal, runId);
    // Pending first: changes during the lookup are parked, so none falls before the first event.
    this.index.beginRun(stream, runId);
    let record: RunRecord | undefined;
    try {
      if (mayLookUpstream(principal, runId)) {
        record = await this.deps.lookup.find(runId);
        if (!record) throw new RungateError('EXECUTION_NOT_FOUND', { message: `Execution ${runId} not found` });
      } else {
        record = await this.deps.lookup.findLocalReadable(runId, (found) => canRead(principal, runId, found));
      }
      if (!canRead(principal, runId, record)) throw new RungateError('FORBIDDEN');
    } catch (error) {
      this.index.removePeer(stream);
      if (error instanceof LookupBudgetError) throw new RungateError('RATE_LIMITED', { message: error.message, headers: { 'Retry-After': '1' } });
      throw error;
    }
    const confirmation = this.index.confirmRun(stream, runId);
    if (!confirmation || res.destroyed) {
      this.index.removePeer(stream);
      return undefined;
    }
    const parked = confirmation.parked;
    const latest: Run = parked && parked.seq > record!.run.seq ? parked : record!.run;
    if (isFinal(latest.status) && since !== undefined && latest.seq <= since) {
      this.index.removePeer(stream);
      return 'no_content';
    }
    this.start(res, stream, principal);
    stream.sendSnapshot(latest, since);
    return undefined;
  }

  /** Opens the stream of a flow's runs (`*`: every run) from now on; the caller checked who may. */
  openFlow(res: ServerResponse, principal: Principal | undefined, flowId: string): void {
    const stream = this.createStream(res, principal, undefined);
    this.index.addFlow(stream, flowId);
    this.start(res, stream, principal);
  }

  /** Offers a change to every stream that follows its run or flow and may read it. */
  offer(record: RunRecord): void {
    const { run } = record;
    let event: SseEvent | undefined;
    let written = 0;
    this.index.forEachPeer(run, (stream) => {
      if (!stream.mayRead(record)) return;
      if (this.index.park(stream, run)) return;
      if (stream.offerRun(run, (event ??= runSseEvent(run)), record.updatedAtMs)) written++;
    });
    if (written > 0) this.deps.metrics.sseEventsSent.inc(written);
  }

  /** The runs and flows some stream follows, for a resync to reread (and progress polls). */
  followed(): FollowedRuns {
    return { runIds: this.index.runIds(), flowIds: this.index.flowIds() };
  }

  /** Open streams. */
  get size(): number {
    return this.streams.size;
  }

  /** Ends every stream and stops listening. */
  close(): void {
    this.unsubscribeBus();
    clearInterval(this.keepAlive);
    for (const stream of [...this.streams.keys()]) stream.end();
  }

  private createStream(res: ServerResponse, principal: Principal | undefined, endsWithRun: string | undefined): SseStream {
    return new SseStream({
      sink: res,
      principal,
      maxBufferedBytes: this.options.maxBufferedBytes,
      metrics: this.deps.metrics,
      ...(endsWithRun === undefined ? {} : { endsWithRun }),
    });
  }

  /** Sends the headers (no buffering anywhere on the way) and keeps the stream until it closes. */
  private start(res: ServerResponse, stream: SseStream, principal: Principal | undefined): void {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      'X-Accel-Buffering': 'no',
      Connection: 'keep-alive',
    });
    res.socket?.setNoDelay(true);
    // A reconnect delay for EventSource, and first bytes so proxies start passing the stream on.
    res.write('retry: 2000\n\n');
    let expiry: NodeJS.Timeout | undefined;
    if (principal?.expiresAtMs !== undefined) {
      expiry = setTimeout(() => stream.end(), Math.min(Math.max(0, principal.expiresAtMs - this.now()), MAX_TIMER_MS));
      expiry.unref();
    }
    const drop = () => {
      if (!this.streams.delete(stream)) return;
      if (expiry) clearTimeout(expiry);
      this.index.removePeer(stream);
      this.deps.metrics.sseStreams.set(this.streams.size);
    };
    this.streams.set(stream, drop);
    this.deps.metrics.sseStreams.set(this.streams.size);
    res.once('close', drop);
  }
}
