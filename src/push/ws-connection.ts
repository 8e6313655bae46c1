import { canRead, type Principal } from '../auth/principal.js';
import { isFinal, type Run } from '../runs/run.js';
import type { RunRecord } from '../runs/run-record.js';
import type { TokenBucket } from '../util/token-bucket.js';
import type { ClientMessage } from './client-message.js';
import { DEFAULT_SENT_SEQ_MEMORY, SentSeqMemory, type SentSeqMemoryOptions } from './sent-seq-memory.js';
import type { WsErrorCode } from '../errors.js';
import { jsonFrame, type TextFrame } from './text-frame.js';
import type { QueuedWriter, WriteTurn } from './write-turn.js';

/** The part of a `ws` WebSocket a connection uses (a fake in unit tests). */
export interface PeerSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: Buffer, options: { binary: boolean }): void;
  close(code: number, reason: string): void;
  terminate(): void;
  ping(): void;
}

/**
 * The TCP socket under a `ws` WebSocket, written to directly with frames built once (see
 * TextFrame). Safe because `ws` writes each of its own frames whole and synchronously when it
 * compresses nothing: between two calls the stream is always at a frame boundary.
 */
export interface WireSocket {
  readonly writable: boolean;
  write(chunk: Buffer): boolean;
}

/**
 * Handles one client frame. A promise (an auth frame being verified) holds back the frames after
 * it until it settles; it must not reject.
 */
export type FrameHandler = (message: ClientMessage) => Promise<void> | void;

export interface WsConnectionOptions {
  socket: PeerSocket;
  /** The TCP socket under it: frames go there whole; without it they go through `socket.send`. */
  wire?: WireSocket;
  /** The hub's write turn: changes after the first of a turn are written together at its end. */
  turn?: WriteTurn;
  /** What the connection counts against before it authenticates: `ip:<address>` or `sub:<owner>`. */
  clientKey: string;
  /**
   * This peer's budget for upstream lookups of unknown runs, or what makes it when first needed
   * (one function shared by every connection: most never look anything up).
   */
  lookupBudget: TokenBucket | (() => TokenBucket);
  /** Unsent bytes allowed before the peer is closed with 1013. */
  maxBufferedBytes: number;
  /** The counters it bumps (GatewayMetrics' in the gateway). */
  metrics: Record<'wsMessagesSent' | 'wsMessagesDropped' | 'wsSlowConsumerCloses', { inc(value?: number): void }>;
  /** Where each client frame goes, in arrival order (see FrameHandler). */
  handle: FrameHandler;
  now: () => number;
  /** How long and how many runs the peer's seq memory keeps (default: SentSeqMemory's). */
  seqMemory?: SentSeqMemoryOptions;
  /** Runs the peer follows by id: remembered while followed, so their `since` keeps holding. */
  keeps?: (runId: string) => boolean;
}

/** WebSocket ready states (the WHATWG numbers `ws` uses). */
const OPEN = 1;
const CLOSED = 3;
/** Close code for authentication failures (RFC 6455: policy violation). */
export const CLOSE_POLICY = 1008;
/** Frames a peer may send while its auth frame is being verified. */
export const MAX_QUEUED_FRAMES = 100;
/** How long a close handshake may take before the socket is cut. */
const CLOSE_GRACE_MS = 2000;
/** setTimeout holds at most ~24.8 days; a token valid longer is rechecked then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The `{"type":"run"}` frame of a run, serialised and framed once for every peer that gets it. */
export function runFrame(run: Run): TextFrame {
  return jsonFrame({ type: 'run', run });
}

/**
 * One WebSocket peer: who it is, what it was sent (so a run's seq only grows on it and its final
 * state goes out once), its heartbeat, the queue of frames that wait for an auth frame's
 * verification, and the bound on its unsent bytes — a peer that cannot keep up is closed with
 * 1013, never buffered without limit. What it subscribed to lives in the hub's index.
 */
export class WsConnection implements QueuedWriter {
  private readonly socket: PeerSocket;
  private readonly wire: WireSocket | undefined;
  private readonly turn: WriteTurn | undefined;
  /** Frames waiting for the end of the write turn, and their bytes (allocated when needed). */
  private pending: TextFrame[] | undefined;
  private pendingBytes = 0;
  private readonly sent: SentSeqMemory;
  private readonly metrics: WsConnectionOptions['metrics'];
  private readonly maxBufferedBytes: number;
  private readonly handle: FrameHandler;
  private readonly now: () => number;
  private currentPrincipal: Principal | undefined;
  private currentClientKey: string;
  private alive = true;
  private closing = false;
  private disposed = false;
  private authTimer: NodeJS.Timeout | undefined;
  /** Set while a frame handler's promise (an auth frame) is pending; later frames wait in `queued`. */
  private holding = false;
  private queued: ClientMessage[] | undefined;
  private budget: TokenBucket | (() => TokenBucket);

  constructor(options: WsConnectionOptions) {
    this.socket = options.socket;
    this.wire = options.wire;
    this.turn = options.turn;
    this.currentClientKey = options.clientKey;
    this.budget = options.lookupBudget;
    this.maxBufferedBytes = options.maxBufferedBytes;
    this.metrics = options.metrics;
    this.handle = options.handle;
    this.now = options.now;
    this.sent = new SentSeqMemory(options.seqMemory ?? DEFAULT_SENT_SEQ_MEMORY, options.keeps, options.now);
  }

  /** This peer's budget for upstream lookups of unknown runs. */
  get lookupBudget(): TokenBucket {
    if (typeof this.budget === 'function') this.budget = this.budget();
    return this.budget;
  }

  /** Who this peer is; undefined until it authenticates (or always, with auth off). */
  get principal(): Principal | undefined {
    return this.currentPrincipal;
  }

  /** What its connection counts against: `sub:<owner>` or `ip:<address>`. */
  get clientKey(): string {
    return this.currentClientKey;
  }

  /** How many runs this peer's seq memory holds (bounded by its retention and maxRuns). */
  get rememberedRuns(): number {
    return this.sent.size;
  }

  /** Not yet dropped: async steps check this before touching anything shared. */
  get live(): boolean {
    return !this.disposed;
  }

  /** Still writable: open and not closing. */
  get open(): boolean {
    return !this.closing && this.socket.readyState === OPEN;
  }

  /**
   * Takes a verified principal (and, when it is the first, the key the connection counts against
   * from now on); the connection closes with 1008 when the token expires.
   */
  authenticate(principal: Principal, clientKey = this.currentClientKey): void {
    this.currentPrincipal = principal;
    this.currentClientKey = clientKey;
    this.clearAuthTimer();
    if (principal.expiresAtMs !== undefined) {
      const delayMs = Math.min(Math.max(0, principal.expiresAtMs - this.now()), MAX_TIMER_MS);
      this.setAuthTimer(delayMs, 'token expired');
    }
  }

  /** With auth on and no token yet: closes with 1008 unless authenticate comes within `delayMs`. */
  requireAuthWithin(delayMs: number): void {
    this.setAuthTimer(delayMs, 'authentication required');
  }

  /** May this peer see this run? */
  mayRead(record: RunRecord): boolean {
    return canRead(this.currentPrincipal, record.run.id, record);
  }

  /**
   * Takes a parsed frame in arrival order: handled now, or queued (at most MAX_QUEUED_FRAMES)
   * while an earlier frame's handler is still pending, so a subscribe sent right after an auth
   * frame runs as the authenticated owner.
   */
  receive(message: ClientMessage): void {
    if (!this.holding) {
      this.dispatch(message);
      return;
    }
    const queued = (this.queued ??= []);
    if (queued.length >= MAX_QUEUED_FRAMES) this.sendError('limit_exceeded', 'too many frames while authenticating');
    else queued.push(message);
  }

  /** One heartbeat tick: a peer that did not answer the last ping is cut, the others pinged. */
  heartbeat(): void {
    if (!this.alive) {
      this.socket.terminate();
      return;
    }
    this.alive = false;
    try {
      this.socket.ping();
    } catch {
      this.socket.terminate();
    }
  }

  /** The peer answered a ping. */
  pong(): void {
    this.alive = true;
  }

  /**
   * Sends a change (with its frame when already serialised), written at `writtenAtMs` (unknown: now), unless
   * this peer has that seq or a newer one, or — its run forgotten — it is no newer than what the
   * peer's seq memory forgot (see SentSeqMemory).
   */
  sendRun(run: Run, frame?: TextFrame, writtenAtMs: number = this.now(), queue = false): void {
    const outcome = this.offerRun(run, frame ?? runFrame(run), writtenAtMs, queue);
    if (outcome !== undefined) this.count(outcome);
  }

  /**
   * `sendRun` for a broadcast: the same, but the caller counts what it returns (written or
   * dropped; undefined when the peer had it) and bumps the counters once per change, not once
   * per peer.
   */
  offerRun(run: Run, frame: TextFrame, writtenAtMs: number, queue: boolean): boolean | undefined {
    return this.sent.isNew(run.id, run.seq, writtenAtMs) ? this.deliver(run, frame, writtenAtMs, queue) : undefined;
  }

  /**
   * Sends a subscription's first state, unless it is not newer than `since` (what the peer says
   * it has) or than what this connection remembers sending.
   */
  sendSnapshot(run: Run, since: number | undefined): void {
    if (since !== undefined && run.seq <= since) {
      this.sent.remember(run.id, since);
      return;
    }
    if (run.seq > (this.sent.sentSeq(run.id) ?? 0)) this.count(this.deliver(run, runFrame(run), this.now(), false));
  }

  /** Writes a run's frame and remembers it as sent; false when it was dropped (slow consumer, closed). */
  private deliver(run: Run, frame: TextFrame, writtenAtMs: number, queue: boolean): boolean {
    if (!this.write(frame, queue)) return false;
    this.sent.remember(run.id, run.seq, { writtenAtMs, final: isFinal(run.status) });
    return true;
  }

  private count(written: boolean): void {
    if (written) this.metrics.wsMessagesSent.inc();
    else this.metrics.wsMessagesDropped.inc();
  }

  /** Sends a control message (`subscribed`, `error`). */
  sendControl(message: Record<string, unknown>): void {
    this.write(jsonFrame(message));
  }

  /** Sends an `{"type":"error"}` frame, naming the run it concerns when there is one. */
  sendError(code: WsErrorCode, message: string, runId?: string): void {
    this.sendControl(runId === undefined ? { type: 'error', code, message } : { type: 'error', code, message, runId });
  }

  /** Closes the peer; if the close handshake cannot get through its backlog, cuts it. */
  close(code: number, reason: string): void {
    if (this.closing) return;
    // What was queued goes before the close frame.
    this.flush();
    this.closing = true;
    try {
      this.socket.close(code, reason);
    } catch {
      this.socket.terminate();
      return;
    }
    setTimeout(() => {
      if (this.socket.readyState !== CLOSED) this.socket.terminate();
    }, CLOSE_GRACE_MS).unref();
  }

  /** The peer is gone: stops its timers, drops its queued frames, and marks it no longer live. */
  dispose(): void {
    this.disposed = true;
    this.clearAuthTimer();
    this.queued = undefined;
    this.pending = undefined;
  }

  /** Writes the frames queued during the write turn, as one buffer when they go on the wire. */
  flush(): void {
    const frames = this.pending;
    if (!frames) return;
    this.pending = undefined;
    const bytes = this.pendingBytes;
    this.pendingBytes = 0;
    if (!this.open) return;
    if (!this.wire) {
      for (const frame of frames) this.socket.send(frame.payload, { binary: false });
    } else if (this.wire.writable) {
      this.wire.write(frames.length === 1 ? frames[0]!.wire : Buffer.concat(frames.map((frame) => frame.wire), bytes));
    }
  }

  private dispatch(message: ClientMessage): void {
    const pending = this.handle(message);
    if (!pending) return;
    this.holding = true;
    void pending.finally(() => {
      this.holding = false;
      // Drained one by one: a queued auth frame holds the rest back again.
      while (!this.holding && this.queued && this.queued.length > 0 && !this.disposed) this.dispatch(this.queued.shift()!);
    });
  }

  private setAuthTimer(delayMs: number, reason: string): void {
    this.clearAuthTimer();
    this.authTimer = setTimeout(() => this.close(CLOSE_POLICY, reason), delayMs);
    this.authTimer.unref();
  }

  private clearAuthTimer(): void {
    if (this.authTimer) clearTimeout(this.authTimer);
    this.authTimer = undefined;
  }

  /**
   * Writes a text frame (built once, so one serialisation serves every peer), or queues it for
   * the end of the write turn when `queue` says an earlier change went out this turn, or this
   * peer already has frames queued (they keep their order). Queued bytes count towards the bound.
   */
  private write(frame: TextFrame, queue = false): boolean {
    if (!this.open) return false;
    if (this.socket.bufferedAmount + this.pendingBytes + frame.wire.length > this.maxBufferedBytes) {
      this.metrics.wsSlowConsumerCloses.inc();
      this.close(1013, 'slow consumer: too many unsent messages');
      return false;
    }
    if (this.pending || (queue && this.turn)) {
      if (!this.pending) {
        this.pending = [];
        this.turn!.enlist(this);
      }
      this.pending.push(frame);
      this.pendingBytes += frame.wire.length;
      return true;
    }
    if (!this.wire) this.socket.send(frame.payload, { binary: false });
    else if (this.wire.writable) this.wire.write(frame.wire);
    return true;
  }
}
