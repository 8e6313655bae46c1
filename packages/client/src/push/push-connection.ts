import { backoffDelay, type BackoffOptions } from '../backoff.js';
import { ClientClosedError, errorFromFrame, isPermanentError, type DocloError } from '../errors.js';
import type { HttpClient } from '../http-client.js';
import type { Reachability } from '../reachability.js';
import { looksLikeRun, type Run } from '../run.js';
import { unrefTimer } from '../timers.js';
import type { WebSocketConstructor } from '../web-socket.js';
import { FollowerRegistry, type Follower, type RunListener } from './follower-registry.js';
import { FlowFollowers, type FlowListener } from './flow-followers.js';
import { LongPollFallback } from './long-poll-fallback.js';
import { SocketTransport, type TransportState } from './socket-transport.js';
import { resubscribeFrames, subscribeFrame } from './subscribe-frames.js';

export type { RunListener } from './follower-registry.js';
export type { FlowListener } from './flow-followers.js';

/** Options of PushConnection. */
export interface PushConnectionOptions {
  /** `ws(s)://…/ws`. */
  wsUrl: string;
  token: string | undefined;
  loadWebSocket: () => Promise<WebSocketConstructor>;
  http: Pick<HttpClient, 'request'>;
  reconnect: BackoffOptions;
  /** `Prefer: wait=N` of the fallback long-polls (seconds, at most 60). */
  longPollSeconds: number;
  /** Close the socket after this long without any run to follow. */
  idleTimeoutMs: number;
  /** Start the long-poll fallback once the socket has been unusable this long. */
  fallbackAfterMs: number;
  /** Give up on a connection attempt that has not opened after this long. */
  connectTimeoutMs: number;
  /** Told when the socket opens or closes and why an attempt failed. */
  reachability?: Reachability;
}

/** Calls app code; an exception there must not break delivery to the others, yet must not vanish. */
function callSafely(action: () => void): void {
  try {
    action();
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

/**
 * Every wait and subscription of a client, over one shared WebSocket. It joins three parts: the
 * transport (one socket, reconnecting with backoff and jitter, closing when idle), the follower
 * registry (which state each run's listeners already have; nothing is handed over twice) and the
 * long-poll fallback (while the socket is unusable). Here: the protocol — auth first, subscribe
 * with `since` = what the app has, resubscribe everything on a new socket, the error frames.
 */
export class PushConnection {
  private readonly followers = new FollowerRegistry();
  private readonly flows = new FlowFollowers();
  private socketOpen = false;
  private readonly transport: SocketTransport;
  private readonly fallback: LongPollFallback;

  constructor(private readonly options: PushConnectionOptions) {
    this.transport = new SocketTransport({
      url: options.wsUrl,
      loadWebSocket: options.loadWebSocket,
      reconnect: options.reconnect,
      idleTimeoutMs: options.idleTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs,
      onState: (state) => this.onTransportState(state),
      onMessage: (message) => this.onMessage(message),
      onAttemptFailed: (reason, cause) => options.reachability?.failed(reason, cause),
    });
    this.fallback = new LongPollFallback({
      http: options.http,
      longPollSeconds: options.longPollSeconds,
      reconnect: options.reconnect,
      fallbackAfterMs: options.fallbackAfterMs,
      followedRuns: () => this.followers.all().map((follower) => follower.runId),
      wants: (runId) => this.followers.get(runId)?.final === false,
      onRun: (runId, run) => this.withFollower(runId, (follower) => this.deliver(follower, run)),
      onFatal: (runId, error) => this.withFollower(runId, (follower) => this.fail(follower, error)),
    });
  }

  /**
   * Follows a run. The listener gets the latest known state (if any) and then every newer one;
   * errors that end the following (unknown run, no permission, limits) go to `onError` and
   * detach it. Returns the detach function.
   */
  listen(runId: string, listener: RunListener): () => void {
    if (this.transport.state === 'closed') throw new ClientClosedError();
    const { follower, fresh } = this.followers.follow(runId, listener);
    const known = follower.latest;
    if (known) queueMicrotask(() => follower.listeners.has(listener) && callSafely(() => listener.onRun(known)));
    if (fresh && !follower.final) {
      this.updateDemand();
      if (this.transport.state === 'open') {
        this.sendSubscribe(follower);
        if (!follower.latest && this.followers.mayHaveCarried(runId)) this.readOnce(follower);
      }
      this.fallback.follow(runId);
    }
    return () => this.detach(follower, listener);
  }

  /**
   * Follows every run of a flow (`*`: of every flow) from now on, over the same socket: each state
   * once (FlowFollowers), resubscribed on every new socket. There is no `since` for a flow, so
   * `onLive` tells the app when to read what changed while the socket was down. Returns the detach
   * function.
   */
  listenFlow(flowId: string, listener: FlowListener): () => void {
    if (this.transport.state === 'closed') throw new ClientClosedError();
    if (this.flows.add(flowId, listener)) {
      this.updateDemand();
      if (this.transport.state === 'open') this.transport.send({ op: 'subscribe', flowId });
    }
    return () => {
      if (!this.flows.remove(flowId, listener)) return;
      this.transport.send({ op: 'unsubscribe', flowId });
      this.updateDemand();
    };
  }

  /** Closes the socket for good; pending listeners get ClientClosedError. */
  close(): void {
    if (this.transport.state === 'closed') return;
    this.transport.close();
    const error = new ClientClosedError();
    for (const follower of this.followers.all()) this.fail(follower, error);
    this.failFlows(error);
  }

  /** Ends flow subscriptions (every one, or one flow's) with an error. */
  private failFlows(error: DocloError, flowId?: string): void {
    const dropped = this.flows.drop(flowId);
    if (dropped.length === 0) return;
    this.updateDemand();
    for (const listener of dropped) callSafely(() => listener.onError(error));
  }

  private onTransportState(state: TransportState): void {
    this.options.reachability?.socket(state === 'open');
    const lost = this.socketOpen && state !== 'open';
    this.socketOpen = state === 'open';
    if (lost) for (const flowId of this.flows.flows()) for (const listener of this.flows.of(flowId)) callSafely(() => listener.onLost?.());
    if (state !== 'open') this.forgetSubscriptions();
    switch (state) {
      case 'open':
        this.followers.startSocket();
        this.fallback.disarm();
        // Browsers cannot set headers on the upgrade, so the token travels as the first frame.
        if (this.options.token !== undefined) this.transport.send({ op: 'auth', token: this.options.token });
        this.resubscribeAll();
        for (const flowId of this.flows.flows()) this.transport.send({ op: 'subscribe', flowId });
        break;
      case 'connecting':
      case 'backoff':
        this.fallback.socketUnusable();
        break;
      case 'idle':
      case 'closed':
        this.fallback.disarm();
        break;
    }
  }

  /** The socket is gone: nothing is subscribed on it any more, and no retry is due on it. */
  private forgetSubscriptions(): void {
    for (const follower of this.followers.all()) {
      follower.subscribed = false;
      this.cancelRetry(follower);
    }
  }

  private detach(follower: Follower, listener: RunListener): void {
    if (!this.followers.unfollow(follower, listener)) return;
    this.released(follower);
    if (!follower.final && follower.subscribed) this.transport.send({ op: 'unsubscribe', runId: follower.runId });
  }

  /** After a follower left the registry: stop what was done for it. */
  private released(follower: Follower): void {
    this.cancelRetry(follower);
    this.fallback.stop(follower.runId);
    this.updateDemand();
  }

  private fail(follower: Follower, error: DocloError): void {
    const listeners = [...follower.listeners];
    follower.listeners.clear();
    if (this.followers.remove(follower)) this.released(follower);
    for (const listener of listeners) callSafely(() => listener.onError(error));
  }

  private updateDemand(): void {
    this.transport.setWanted(this.followers.hasUnfinished || this.flows.size > 0);
  }

  private withFollower(runId: string, action: (follower: Follower) => void): void {
    const follower = this.followers.get(runId);
    if (follower) action(follower);
  }

  private onMessage(message: Record<string, unknown>): void {
    if (message.type === 'run' && looksLikeRun(message.run)) {
      const run = message.run;
      this.followers.noteCarried(run.id);
      this.withFollower(run.id, (follower) => this.deliver(follower, run));
      for (const listener of this.flows.accept(run)) callSafely(() => listener.onRun(run));
      return;
    }
    if (message.type === 'subscribed' && typeof message.runId === 'string') {
      this.withFollower(message.runId, (follower) => (follower.retryAttempt = 0));
      return;
    }
    if (message.type === 'subscribed' && typeof message.flowId === 'string') {
      for (const listener of this.flows.of(message.flowId)) callSafely(() => listener.onLive?.());
      return;
    }
    if (message.type === 'error' && typeof message.code === 'string') {
      this.onErrorFrame(message.code, typeof message.message === 'string' ? message.message : message.code, message.runId);
    }
  }

  private onErrorFrame(code: string, text: string, runId: unknown): void {
    const follower = typeof runId === 'string' ? this.followers.get(runId) : undefined;
    if (!follower) {
      // A refused token concerns every run on this socket.
      if (code === 'unauthorized' && runId === undefined) {
        const error = errorFromFrame(code, text);
        for (const each of this.followers.all()) this.fail(each, error);
      }
      // A flow subscription refused (every flow, for a non-admin) or over the limit: the gateway
      // names no run; a flow subscription on this socket is what it answers.
      if (runId === undefined && (code === 'unauthorized' || code === 'forbidden' || code === 'limit_exceeded')) {
        this.failFlows(errorFromFrame(code, text));
      }
      return;
    }
    follower.subscribed = false;
    if (code === 'unavailable') this.retrySubscribe(follower);
    else this.fail(follower, errorFromFrame(code, text));
  }

  /** Doclo could not be asked just now: subscribe again later, spaced out like reconnects. */
  private retrySubscribe(follower: Follower): void {
    const delay = Math.max(500, backoffDelay(follower.retryAttempt + 2, this.options.reconnect));
    follower.retryAttempt += 1;
    this.cancelRetry(follower);
    follower.retryTimer = unrefTimer(
      setTimeout(() => {
        follower.retryTimer = undefined;
        if (this.transport.state === 'open' && this.followers.isCurrent(follower) && !follower.final) this.sendSubscribe(follower);
      }, delay),
    );
  }

  private cancelRetry(follower: Follower): void {
    if (follower.retryTimer) clearTimeout(follower.retryTimer);
    follower.retryTimer = undefined;
  }

  /** Hands a state to the app once: only if it is news (see FollowerRegistry). */
  private deliver(follower: Follower, run: Run): void {
    if (!this.followers.accept(follower, run)) return;
    if (follower.final) {
      this.fallback.stop(follower.runId);
      // Nothing changes after a final state: free the gateway's slot for this run.
      if (follower.subscribed) this.transport.send({ op: 'unsubscribe', runId: follower.runId });
      follower.subscribed = false;
      this.updateDemand();
    }
    for (const listener of [...follower.listeners]) callSafely(() => listener.onRun(run));
  }

  /** Subscribes every followed run on a new socket, each with `since` = what the app has. */
  private resubscribeAll(): void {
    const pending = this.followers.all().filter((follower) => !follower.final);
    for (const { frame, runIds } of resubscribeFrames(pending)) {
      const sent = this.transport.send(frame);
      for (const runId of runIds) this.withFollower(runId, (follower) => (follower.subscribed = sent));
    }
  }

  private sendSubscribe(follower: Follower): void {
    follower.subscribed = this.transport.send(subscribeFrame(follower.runId, follower.lastSeq));
  }

  /** One plain read, for a run this socket already carried but whose state was forgotten. */
  private readOnce(follower: Follower): void {
    this.options.http.request<unknown>('GET', `/api/v1/runs/${encodeURIComponent(follower.runId)}`).then(
      (run) => {
        if (looksLikeRun(run) && this.followers.isCurrent(follower)) this.deliver(follower, run);
      },
      (error: unknown) => {
        if (isPermanentError(error) && this.followers.isCurrent(follower)) this.fail(follower, error);
        // Otherwise the subscription still brings every later change.
      },
    );
  }
}
