import { backoffDelay, type BackoffOptions } from '../backoff.js';
import { ClientClosedError, DocloError, errorFromFrame, isPermanentError as isPermanent } from '../errors.js';
import type { HttpClient } from '../http-client.js';
import { isPlainObject } from '../is-plain-object.js';
import { isFinalStatus, looksLikeRun as isRun, statusRank, type Run } from '../run.js';
import { sleep, unrefTimer } from '../timers.js';
import { OPEN, type WebSocketConstructor, type WebSocketLike } from '../web-socket.js';

/** Someone interested in one run: a subscriber or a waiter. */
export interface RunListener {
  onRun(run: Run): void;
  onError(error: DocloError): void;
}

export interface PushConnectionOptions {
  /** `ws(s)://…/ws`. */
  wsUrl: string;
  token: string | undefined;
  loadWebSocket: () => Promise<WebSocketConstructor>;
  http: HttpClient;
  reconnect: BackoffOptions;
  /** `Prefer: wait=N` of the fallback long-polls (seconds, at most 60). */
  longPollSeconds: number;
  /** Close the socket after this long without any run to follow. */
  idleTimeoutMs: number;
  /** Start the long-poll fallback once the socket has been unusable this long. */
  fallbackAfterMs: number;
  /** Give up on a connection attempt that has not opened after this long. */
  connectTimeoutMs: number;
}

/** A connection that stayed open this long counts as healthy: the next reconnect starts fast. */
const STABLE_AFTER_MS = 5_000;
/** A fallback answer that came back sooner than this (not held) is followed by a pause, not a hot loop. */
const MIN_POLL_SPACING_MS = 1_000;
/** Up to this many runs are resubscribed one frame each (exact `since`); more go in batches. */
const SINGLE_FRAMES_UP_TO = 50;
const BATCH_SIZE = 100;
/** Latest states remembered after their listeners left (most recently used kept). */
const MEMORY_RUNS = 10_000;
/** Run ids remembered as received on the current socket (the gateway remembers 100k per peer). */
const MAX_SEEN_ON_SOCKET = 100_000;

/** One run followed by this client: its listeners and what was already delivered to them. */
class Channel {
  readonly listeners = new Set<RunListener>();
  /** Highest seq delivered to the app; the `since` of every resubscribe. */
  lastSeq = 0;
  lastRank = -1;
  latest: Run | undefined;
  /** A subscribe for this run went out on the current socket. */
  subscribed = false;
  retryAttempt = 0;
  retryTimer: ReturnType<typeof setTimeout> | undefined;
  fallback: AbortController | undefined;

  constructor(readonly runId: string) {}

  get final(): boolean {
    return this.latest !== undefined && isFinalStatus(this.latest.status);
  }
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
 * The client's single WebSocket, shared by every wait and subscription. Opened when the first
 * run is followed, closed after a while with none. It reconnects by itself with exponential
 * backoff and full jitter and resubscribes each run with `since` = the highest seq the app has
 * seen; each run's messages are de-duplicated by seq, so nothing is delivered twice. While the
 * socket is unusable, each followed run is long-polled with `Prefer: wait`, which the gateway
 * answers from its own state at no upstream cost.
 */
export class PushConnection {
  private readonly channels = new Map<string, Channel>();
  /**
   * The latest state handed to the app per run, kept after its listeners leave: the gateway sends
   * a run's state once per connection, so a later wait on the same socket starts from here.
   */
  private readonly memory = new Map<string, Run>();
  /** Runs the current socket carried; one missing from `memory` is read once over REST. */
  private readonly seenOnSocket = new Set<string>();
  private seenOverflow = false;
  private socket: WebSocketLike | undefined;
  private state: 'idle' | 'connecting' | 'open' | 'waiting' | 'closed' = 'idle';
  /** The socket is unusable; followed runs are long-polled. */
  private down = false;
  private attempt = 0;
  private openedAt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private downTimer: ReturnType<typeof setTimeout> | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly options: PushConnectionOptions) {}

  /** Whether the socket is open right now (for tests and status displays). */
  /**
   * Follows a run. The listener gets the latest known state (if any) and then every newer one;
   * errors that end the following (unknown run, no permission, limits) go to `onError` and
   * detach it. Returns the detach function.
   */
  listen(runId: string, listener: RunListener): () => void {
    if (this.state === 'closed') throw new ClientClosedError();
    let channel = this.channels.get(runId);
    const fresh = channel === undefined;
    if (!channel) {
      channel = new Channel(runId);
      this.channels.set(runId, channel);
      const remembered = this.memory.get(runId);
      if (remembered) {
        channel.latest = remembered;
        channel.lastSeq = remembered.seq;
        channel.lastRank = statusRank(remembered.status);
      }
    }
    channel.listeners.add(listener);
    const known = channel.latest;
    if (known) queueMicrotask(() => channel.listeners.has(listener) && callSafely(() => listener.onRun(known)));
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    if (fresh && !channel.final) {
      if (this.state === 'open') {
        this.sendSubscribe(channel);
        if (!channel.latest && (this.seenOverflow || this.seenOnSocket.has(runId))) this.readOnce(channel);
      } else if (this.state === 'idle') this.connect();
      if (this.down) this.startFallback(channel);
    }
    return () => this.detach(channel, listener);
  }

  /** Closes the socket for good; pending listeners get ClientClosedError. */
  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    for (const timer of [this.reconnectTimer, this.connectTimer, this.downTimer, this.idleTimer]) if (timer) clearTimeout(timer);
    const socket = this.socket;
    this.socket = undefined;
    if (socket) this.closeSocket(socket, 1000, 'client closed');
    const error = new ClientClosedError();
    for (const channel of [...this.channels.values()]) this.fail(channel, error);
  }

  private detach(channel: Channel, listener: RunListener): void {
    if (!channel.listeners.delete(listener) || channel.listeners.size > 0) return;
    this.drop(channel);
    if (!channel.final && channel.subscribed) this.send({ op: 'unsubscribe', runId: channel.runId });
  }

  /** Forgets a channel; with none left, the socket closes after the idle timeout. */
  private drop(channel: Channel): void {
    if (this.channels.get(channel.runId) !== channel) return;
    this.channels.delete(channel.runId);
    if (channel.retryTimer) clearTimeout(channel.retryTimer);
    channel.fallback?.abort();
    channel.fallback = undefined;
    if (this.channels.size === 0 && this.state !== 'closed' && !this.idleTimer) {
      this.idleTimer = unrefTimer(setTimeout(() => this.goIdle(), this.options.idleTimeoutMs));
    }
  }

  private goIdle(): void {
    this.idleTimer = undefined;
    if (this.channels.size > 0 || this.state === 'closed') return;
    for (const timer of [this.reconnectTimer, this.connectTimer, this.downTimer]) if (timer) clearTimeout(timer);
    this.reconnectTimer = this.connectTimer = this.downTimer = undefined;
    const socket = this.socket;
    this.socket = undefined;
    this.state = 'idle';
    this.down = false;
    this.attempt = 0;
    if (socket) this.closeSocket(socket, 1000, 'idle');
  }

  private fail(channel: Channel, error: DocloError): void {
    const listeners = [...channel.listeners];
    channel.listeners.clear();
    this.drop(channel);
    for (const listener of listeners) callSafely(() => listener.onError(error));
  }

  // --- the socket ---------------------------------------------------------------------------

  private connect(): void {
    this.reconnectTimer = undefined;
    if (this.state === 'closed' || this.channels.size === 0) {
      if (this.state !== 'closed') this.state = 'idle';
      return;
    }
    this.state = 'connecting';
    this.armDownTimer();
    this.options.loadWebSocket().then(
      (Ctor) => this.open(Ctor),
      () => this.onDisconnect(undefined),
    );
  }

  private open(Ctor: WebSocketConstructor): void {
    if (this.state !== 'connecting') return;
    let socket: WebSocketLike;
    try {
      socket = new Ctor(this.options.wsUrl);
    } catch {
      this.onDisconnect(undefined);
      return;
    }
    this.socket = socket;
    this.connectTimer = unrefTimer(
      setTimeout(() => {
        // An attempt that neither opens nor fails (a proxy swallowing it) must not stall us.
        if (this.socket === socket && this.state === 'connecting') {
          this.closeSocket(socket, 1000, 'connect timeout');
          this.onDisconnect(socket);
        }
      }, this.options.connectTimeoutMs),
    );
    socket.addEventListener('open', () => this.onOpen(socket));
    socket.addEventListener('message', (event) => this.onMessage(socket, event.data));
    socket.addEventListener('close', () => this.onDisconnect(socket));
    // Browsers follow `error` with `close`; some implementations do not, so treat it as the end too.
    socket.addEventListener('error', () => this.onDisconnect(socket));
  }

  private onOpen(socket: WebSocketLike): void {
    if (this.socket !== socket || this.state !== 'connecting') return;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.state = 'open';
    this.openedAt = Date.now();
    this.seenOnSocket.clear();
    this.seenOverflow = false;
    // Browsers cannot set headers on the upgrade, so the token travels as the first frame.
    if (this.options.token !== undefined) this.send({ op: 'auth', token: this.options.token });
    this.resubscribeAll();
    this.markUp();
  }

  private onDisconnect(socket: WebSocketLike | undefined): void {
    if (socket !== this.socket || this.state === 'closed' || this.state === 'idle' || this.state === 'waiting') return;
    const wasOpenFor = this.state === 'open' ? Date.now() - this.openedAt : 0;
    this.socket = undefined;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    for (const channel of this.channels.values()) {
      channel.subscribed = false;
      if (channel.retryTimer) clearTimeout(channel.retryTimer);
      channel.retryTimer = undefined;
    }
    if (socket) this.closeSocket(socket, 1000, 'reconnecting');
    if (this.channels.size === 0) {
      this.state = 'idle';
      return;
    }
    if (wasOpenFor >= STABLE_AFTER_MS) this.attempt = 0;
    const delay = backoffDelay(this.attempt, this.options.reconnect);
    this.attempt += 1;
    this.state = 'waiting';
    this.armDownTimer();
    // Not unref'd: between attempts nothing else keeps Node alive, yet a wait is pending. It
    // exists only while runs are followed and close() clears it.
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private onMessage(socket: WebSocketLike, data: unknown): void {
    if (socket !== this.socket || typeof data !== 'string') return;
    let message: unknown;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (!isPlainObject(message)) return;
    if (message.type === 'run' && isRun(message.run)) {
      if (this.seenOnSocket.size < MAX_SEEN_ON_SOCKET) this.seenOnSocket.add(message.run.id);
      else this.seenOverflow = true;
      const channel = this.channels.get(message.run.id);
      if (channel) this.deliver(channel, message.run);
      return;
    }
    if (message.type === 'subscribed' && typeof message.runId === 'string') {
      const channel = this.channels.get(message.runId);
      if (channel) channel.retryAttempt = 0;
      return;
    }
    if (message.type === 'error' && typeof message.code === 'string') {
      this.onErrorFrame(message.code, typeof message.message === 'string' ? message.message : message.code, message.runId);
    }
  }

  private onErrorFrame(code: string, text: string, runId: unknown): void {
    const channel = typeof runId === 'string' ? this.channels.get(runId) : undefined;
    if (!channel) {
      // A refused token concerns every run on this socket.
      if (code === 'unauthorized' && runId === undefined) {
        const error = errorFromFrame(code, text);
        for (const each of [...this.channels.values()]) this.fail(each, error);
      }
      return;
    }
    if (code === 'unavailable') {
      // Doclo could not be asked just now: ask again later, spaced out like reconnects.
      channel.subscribed = false;
      const delay = Math.max(500, backoffDelay(channel.retryAttempt + 2, this.options.reconnect));
      channel.retryAttempt += 1;
      if (channel.retryTimer) clearTimeout(channel.retryTimer);
      channel.retryTimer = unrefTimer(
        setTimeout(() => {
          channel.retryTimer = undefined;
          if (this.state === 'open' && this.channels.get(channel.runId) === channel && !channel.final) this.sendSubscribe(channel);
        }, delay),
      );
      return;
    }
    channel.subscribed = false;
    this.fail(channel, errorFromFrame(code, text));
  }

  /** Hands a state to the app once: only if it is newer than what the app already has. */
  private deliver(channel: Channel, run: Run): void {
    const rank = statusRank(run.status);
    // A higher status rank is news even with a lower seq: a gateway that lost its store restarts seq.
    if (run.seq <= channel.lastSeq && rank <= channel.lastRank) return;
    if (channel.final) return;
    channel.lastSeq = Math.max(channel.lastSeq, run.seq);
    channel.lastRank = Math.max(channel.lastRank, rank);
    channel.latest = run;
    this.memory.delete(run.id);
    this.memory.set(run.id, run);
    if (this.memory.size > MEMORY_RUNS) {
      const oldest = this.memory.keys().next().value;
      if (oldest !== undefined) this.memory.delete(oldest);
    }
    if (channel.final) {
      channel.fallback?.abort();
      channel.fallback = undefined;
      // Nothing changes after a final state: free the gateway's slot for this run.
      if (channel.subscribed) this.send({ op: 'unsubscribe', runId: channel.runId });
      channel.subscribed = false;
    }
    for (const listener of [...channel.listeners]) callSafely(() => listener.onRun(run));
  }

  /**
   * Subscribes every followed run on a new socket, each with `since` = what the app has. Many
   * runs go as `runIds` batches (sorted by seq, each batch with the smallest `since` in it): the
   * gateway queues only so many frames while it checks a token, and the extra snapshots a low
   * `since` brings are dropped here by seq.
   */
  private resubscribeAll(): void {
    const pending = [...this.channels.values()].filter((channel) => !channel.final);
    for (const channel of pending) channel.subscribed = false;
    if (pending.length <= SINGLE_FRAMES_UP_TO) {
      for (const channel of pending) this.sendSubscribe(channel);
      return;
    }
    pending.sort((a, b) => a.lastSeq - b.lastSeq);
    for (let i = 0; i < pending.length; i += BATCH_SIZE) {
      const batch = pending.slice(i, i + BATCH_SIZE);
      const since = batch[0]?.lastSeq ?? 0;
      const sent = this.send({ op: 'subscribe', runIds: batch.map((channel) => channel.runId), ...(since > 0 ? { since } : {}) });
      for (const channel of batch) channel.subscribed = sent;
    }
  }

  private sendSubscribe(channel: Channel): void {
    channel.subscribed = this.send(channel.lastSeq > 0 ? { op: 'subscribe', runId: channel.runId, since: channel.lastSeq } : { op: 'subscribe', runId: channel.runId });
  }

  private send(frame: Record<string, unknown>): boolean {
    const socket = this.socket;
    if (!socket || this.state !== 'open' || socket.readyState !== OPEN) return false;
    try {
      socket.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  private closeSocket(socket: WebSocketLike, code: number, reason: string): void {
    try {
      socket.close(code, reason);
    } catch {
      // Already closed or never opened: nothing left to release.
    }
  }

  /** One plain read, for a run this socket already carried but whose state was forgotten. */
  private readOnce(channel: Channel): void {
    this.options.http.request<unknown>('GET', `/api/v1/runs/${encodeURIComponent(channel.runId)}`).then(
      (run) => {
        if (isRun(run) && this.channels.get(channel.runId) === channel) this.deliver(channel, run);
      },
      (error: unknown) => {
        if (isPermanent(error) && this.channels.get(channel.runId) === channel) this.fail(channel, error);
        // Otherwise the subscription still brings every later change.
      },
    );
  }

  // --- the long-poll fallback ---------------------------------------------------------------

  private armDownTimer(): void {
    if (this.down || this.downTimer) return;
    this.downTimer = unrefTimer(
      setTimeout(() => {
        this.downTimer = undefined;
        if (this.state !== 'open' && this.state !== 'closed' && this.state !== 'idle') this.markDown();
      }, this.options.fallbackAfterMs),
    );
  }

  private markDown(): void {
    this.down = true;
    for (const channel of this.channels.values()) this.startFallback(channel);
  }

  private markUp(): void {
    if (this.downTimer) clearTimeout(this.downTimer);
    this.downTimer = undefined;
    this.down = false;
    // The resubscribe (with since) now covers every run; stop asking over REST.
    for (const channel of this.channels.values()) {
      channel.fallback?.abort();
      channel.fallback = undefined;
    }
  }

  private startFallback(channel: Channel): void {
    if (channel.fallback || channel.final || this.state === 'closed') return;
    const controller = new AbortController();
    channel.fallback = controller;
    this.longPoll(channel, controller.signal).then(
      () => undefined,
      () => undefined,
    ).finally(() => {
      if (channel.fallback === controller) channel.fallback = undefined;
    });
  }

  private async longPoll(channel: Channel, signal: AbortSignal): Promise<void> {
    const seconds = this.options.longPollSeconds;
    let attempt = 0;
    while (!signal.aborted && this.channels.get(channel.runId) === channel && !channel.final) {
      const startedAt = Date.now();
      try {
        const run = await this.options.http.request<unknown>('GET', `/api/v1/runs/${encodeURIComponent(channel.runId)}`, {
          headers: { prefer: `wait=${seconds}` },
          holdMs: seconds * 1000,
          signal,
        });
        attempt = 0;
        if (signal.aborted) return;
        if (isRun(run)) this.deliver(channel, run);
        const elapsed = Date.now() - startedAt;
        if (!channel.final && elapsed < MIN_POLL_SPACING_MS) await sleep(MIN_POLL_SPACING_MS - elapsed, signal, true);
      } catch (error) {
        if (signal.aborted) return;
        if (isPermanent(error)) {
          this.fail(channel, error);
          return;
        }
        // The gateway is down too, or busy: try again later, spaced out.
        await sleep(Math.max(200, backoffDelay(attempt + 2, this.options.reconnect)), signal, true);
        attempt += 1;
      }
    }
  }
}
