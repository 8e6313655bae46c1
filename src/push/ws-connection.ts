import { WebSocket } from 'ws';
import type { WsErrorCode } from '../errors.js';
import { canRead, type Principal } from '../auth/principal.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { Run } from '../runs/run.js';
import type { RunRecord } from '../runs/run-record.js';
import type { ClientMessage } from './client-message.js';
import type { TokenBucket } from '../util/token-bucket.js';

/** A WebSocket error frame's code (the catalogue's, src/errors.ts). */
export type ErrorCode = WsErrorCode;

/** The `{"type":"run"}` frame of a run, serialised once for every peer that gets it. */
export function runFrame(run: Run): Buffer {
  return Buffer.from(JSON.stringify({ type: 'run', run }));
}

/** How many runs a connection remembers having sent (oldest forgotten first). */
const MAX_REMEMBERED_RUNS = 100_000;

/**
 * One WebSocket peer: what it subscribed to, the last `seq` it was sent for each run (so a run's
 * seq only grows on this connection and its final state goes out once), and the bound on its
 * unsent bytes — a peer that cannot keep up is closed with 1013, never buffered without limit.
 */
export class WsConnection {
  /** Runs subscribed and confirmed (`subscribed` sent). */
  readonly runs = new Set<string>();
  /** Runs whose subscription is being set up: changes wait here until `subscribed` is out. */
  readonly pendingRuns = new Map<string, Run | undefined>();
  readonly flows = new Set<string>();
  alive = true;
  /** Who this peer is; undefined until it authenticates (or always, with auth off). */
  principal: Principal | undefined;
  /** What its connection counts against: `sub:<owner>` or `ip:<address>`. */
  clientKey = '';
  private readonly sentSeq = new Map<string, number>();
  private closing = false;
  private authTimer: NodeJS.Timeout | undefined;
  /** True while an auth frame is being verified; later frames wait in queuedFrames. */
  authPending = false;
  readonly queuedFrames: ClientMessage[] = [];

  constructor(
    readonly socket: WebSocket,
    readonly lookupBudget: TokenBucket,
    private readonly maxBufferedBytes: number,
    private readonly metrics: GatewayMetrics,
  ) {}

  /** Takes a verified principal; the connection closes when its token expires. */
  authenticate(principal: Principal): void {
    this.principal = principal;
    if (this.authTimer) clearTimeout(this.authTimer);
    this.authTimer = undefined;
    if (principal.expiresAtMs !== undefined) {
      // setTimeout holds at most ~24.8 days; a longer token is rechecked then.
      const delay = Math.min(Math.max(0, principal.expiresAtMs - Date.now()), 2 ** 31 - 1);
      this.setAuthDeadline(delay, () => this.close(1008, 'token expired'));
    }
  }

  /** Runs `onExpiry` after `delayMs` unless authenticate or dispose comes first. */
  setAuthDeadline(delayMs: number, onExpiry: () => void): void {
    if (this.authTimer) clearTimeout(this.authTimer);
    this.authTimer = setTimeout(onExpiry, delayMs);
    this.authTimer.unref();
  }

  /** Stops this connection's timers (it is gone). */
  dispose(): void {
    if (this.authTimer) clearTimeout(this.authTimer);
  }

  get subscriptionCount(): number {
    return this.runs.size + this.pendingRuns.size + this.flows.size;
  }

  get open(): boolean {
    return !this.closing && this.socket.readyState === WebSocket.OPEN;
  }

  /**
   * Offers a change (with its frame, serialised once for every peer). Sent when a confirmed
   * subscription covers it and it is newer than what this peer has; parked while the run's
   * subscription is still pending; otherwise ignored.
   */
  offer(record: RunRecord, frame: Buffer): void {
    const { run } = record;
    if (!canRead(this.principal, run.id, record)) return;
    // A run whose own subscription is being set up waits for its `subscribed`, even when a flow
    // subscription covers it too: `subscribed` comes before any run message for it.
    if (this.pendingRuns.has(run.id)) {
      const parked = this.pendingRuns.get(run.id);
      if (!parked || parked.seq < run.seq) this.pendingRuns.set(run.id, run);
      return;
    }
    if (this.runs.has(run.id) || this.flows.has(run.flowId) || this.flows.has('*')) this.sendRunFrame(run, frame);
  }

  /** Sends a run unless this peer already has this seq or a newer one. */
  sendRun(run: Run, since?: number): void {
    if (since !== undefined && run.seq <= since) {
      this.remember(run.id, Math.max(since, this.sentSeq.get(run.id) ?? 0));
      return;
    }
    this.sendRunFrame(run, runFrame(run));
  }

  sendControl(message: Record<string, unknown>): void {
    this.write(Buffer.from(JSON.stringify(message)));
  }

  sendError(code: ErrorCode, message: string, runId?: string): void {
    this.sendControl(runId === undefined ? { type: 'error', code, message } : { type: 'error', code, message, runId });
  }

  /** Closes the peer; if the close handshake cannot get through its backlog, cuts it. */
  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    try {
      this.socket.close(code, reason);
    } catch {
      this.socket.terminate();
      return;
    }
    setTimeout(() => {
      if (this.socket.readyState !== WebSocket.CLOSED) this.socket.terminate();
    }, 2000).unref();
  }

  private sendRunFrame(run: Run, frame: Buffer): void {
    const sent = this.sentSeq.get(run.id) ?? 0;
    if (run.seq <= sent) return;
    if (this.write(frame)) {
      this.remember(run.id, run.seq);
      this.metrics.wsMessagesSent.inc();
    } else {
      this.metrics.wsMessagesDropped.inc();
    }
  }

  private remember(id: string, seq: number): void {
    this.sentSeq.delete(id);
    this.sentSeq.set(id, seq);
    if (this.sentSeq.size > MAX_REMEMBERED_RUNS) {
      const oldest = this.sentSeq.keys().next().value;
      if (oldest !== undefined) this.sentSeq.delete(oldest);
    }
  }

  /** Writes a text frame (a Buffer, so one serialisation serves every peer). */
  private write(frame: Buffer): boolean {
    if (!this.open) return false;
    if (this.socket.bufferedAmount + frame.length > this.maxBufferedBytes) {
      this.metrics.wsSlowConsumerCloses.inc();
      this.close(1013, 'slow consumer: too many unsent messages');
      return false;
    }
    this.socket.send(frame, { binary: false });
    return true;
  }
}
