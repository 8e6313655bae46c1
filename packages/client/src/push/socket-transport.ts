import { backoffDelay, type BackoffOptions } from '../backoff.js';
import { isPlainObject } from '../is-plain-object.js';
import { unrefTimer } from '../timers.js';
import { OPEN, type WebSocketConstructor, type WebSocketLike } from '../web-socket.js';

/**
 * - `idle`: no socket, nothing to follow.
 * - `connecting`: an attempt is under way (loading the WebSocket class, then the handshake).
 * - `open`: frames flow.
 * - `backoff`: the last attempt failed or the socket was lost; the next one waits a jittered delay.
 * - `closed`: `close()` was called; for good.
 */
export type TransportState = 'idle' | 'connecting' | 'open' | 'backoff' | 'closed';

/**
 * What can happen: there is something to follow (`want`), the socket opened, the socket or the
 * attempt was lost, the current state's one timer fired, `close()`.
 */
type TransportEvent = 'want' | 'opened' | 'lost' | 'timer' | 'close';

/** The state after `event`, given whether any followed run can still change. */
type Transition = (wanted: boolean) => TransportState;

const retryOrRest: Transition = (wanted) => (wanted ? 'backoff' : 'idle');
const toClosed: Transition = () => 'closed';

/**
 * Every move the transport makes. Each state has at most one timer and the table says what its
 * firing means: in `connecting` the attempt took too long (a proxy swallowing it must not stall
 * us), in `open` the socket was idle long enough to close, in `backoff` the delay is over. An
 * event a state does not list is ignored: late news from a socket already given up on, a second
 * `close()`.
 */
const TRANSITIONS: { readonly [S in TransportState]: { readonly [E in TransportEvent]?: Transition } } = {
  idle: { want: () => 'connecting', close: toClosed },
  connecting: { opened: () => 'open', lost: retryOrRest, timer: retryOrRest, close: toClosed },
  open: { lost: retryOrRest, timer: () => 'idle', close: toClosed },
  backoff: { timer: (wanted) => (wanted ? 'connecting' : 'idle'), close: toClosed },
  closed: {},
};

/** A connection that stayed open this long counts as healthy: the next reconnect starts fast. */
export const STABLE_AFTER_MS = 5_000;

/** Options of SocketTransport. */
export interface SocketTransportOptions {
  /** `ws(s)://…/ws`. */
  url: string;
  loadWebSocket: () => Promise<WebSocketConstructor>;
  reconnect: BackoffOptions;
  /** Close an open socket after this long with nothing to follow. */
  idleTimeoutMs: number;
  /** Give up on an attempt that has not opened after this long. */
  connectTimeoutMs: number;
  /** Called after each change of state; on `open` the socket already takes frames. */
  onState: (state: TransportState, previous: TransportState) => void;
  /** Each text frame that parses as a JSON object. */
  onMessage: (message: Record<string, unknown>) => void;
  /** An attempt that did not open, with the reason when the platform gives one (browsers do not). */
  onAttemptFailed?: (reason: string, cause?: unknown) => void;
  /** The clock of the stable-connection rule (default `Date.now`). */
  now?: () => number;
  /** The jitter's randomness (default `Math.random`). */
  random?: () => number;
}

/**
 * The client's one WebSocket as a state machine (see TRANSITIONS): opened when something is to be
 * followed, reconnected with exponential backoff and full jitter while something is, closed after
 * `idleTimeoutMs` once nothing is. It knows nothing of runs; it moves frames.
 */
export class SocketTransport {
  private current: TransportState = 'idle';
  private wanted = false;
  private socket: WebSocketLike | undefined;
  /** The current state's one timer (see TRANSITIONS). */
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Identifies the attempt in flight, so that a late answer of an abandoned one is ignored. */
  private attemptToken: object | undefined;
  /** Failed attempts in a row: the exponent of the next backoff. */
  private failures = 0;
  private openedAt = 0;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly options: SocketTransportOptions) {
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  /** The current state. */
  get state(): TransportState {
    return this.current;
  }

  /** Whether some followed run can still change: opens the socket, or lets it close when idle. */
  setWanted(wanted: boolean): void {
    if (this.wanted === wanted) return;
    this.wanted = wanted;
    if (wanted && this.current === 'idle') this.dispatch('want');
    else if (this.current === 'open') this.armIdleTimer();
    // A pending reconnect keeps a Node process alive only while a wait or subscription needs it.
    else if (this.current === 'backoff' && this.timer) keepAlive(this.timer, wanted);
  }

  /** Sends a frame if the socket is open; false when it could not go out. */
  send(frame: Record<string, unknown>): boolean {
    const socket = this.socket;
    if (!socket || this.current !== 'open' || socket.readyState !== OPEN) return false;
    try {
      socket.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  /** Closes the socket for good. */
  close(): void {
    this.dispatch('close');
  }

  private dispatch(event: TransportEvent, failure?: { reason: string; cause?: unknown }): void {
    if (this.current === 'connecting' && (event === 'lost' || event === 'timer')) {
      const { reason, cause } = failure ?? { reason: event === 'timer' ? `no answer within ${this.options.connectTimeoutMs}ms` : 'the WebSocket connection closed' };
      this.options.onAttemptFailed?.(reason, cause);
    }
    const next = TRANSITIONS[this.current][event]?.(this.wanted);
    if (next !== undefined) this.enter(next, event);
  }

  private enter(next: TransportState, cause: TransportEvent): void {
    const previous = this.current;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (next !== 'open') this.dropSocket(next === 'closed' ? 'client closed' : next === 'idle' ? 'idle' : cause === 'timer' ? 'connect timeout' : 'reconnecting');
    this.current = next;
    switch (next) {
      case 'connecting':
        this.attempt();
        break;
      case 'open':
        this.openedAt = this.now();
        this.armIdleTimer();
        break;
      case 'backoff':
        this.armReconnect(previous === 'open' && this.now() - this.openedAt >= STABLE_AFTER_MS);
        break;
      case 'idle':
        this.failures = 0;
        break;
      case 'closed':
        break;
    }
    this.options.onState(next, previous);
  }

  private attempt(): void {
    const token = {};
    this.attemptToken = token;
    this.timer = unrefTimer(setTimeout(() => this.dispatch('timer'), this.options.connectTimeoutMs));
    this.options.loadWebSocket().then(
      (Ctor) => {
        if (this.attemptToken === token && this.current === 'connecting') this.openSocket(Ctor);
      },
      (error: unknown) => {
        if (this.attemptToken === token && this.current === 'connecting') this.dispatch('lost', { reason: errorText(error), cause: error });
      },
    );
  }

  private openSocket(Ctor: WebSocketConstructor): void {
    let socket: WebSocketLike;
    try {
      socket = new Ctor(this.options.url);
    } catch (error) {
      this.dispatch('lost', { reason: errorText(error), cause: error });
      return;
    }
    this.socket = socket;
    const ours = () => this.socket === socket;
    socket.addEventListener('open', () => ours() && this.dispatch('opened'));
    socket.addEventListener('message', (event) => ours() && this.receive(event.data));
    socket.addEventListener('close', () => ours() && this.dispatch('lost'));
    // Browsers follow `error` with `close`; some implementations do not, so it ends the socket too.
    socket.addEventListener('error', (event) => ours() && this.dispatch('lost', failureOf(event)));
  }

  private receive(data: unknown): void {
    if (typeof data !== 'string') return;
    let message: unknown;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (isPlainObject(message)) this.options.onMessage(message);
  }

  private armReconnect(afterStableConnection: boolean): void {
    if (afterStableConnection) this.failures = 0;
    const delay = backoffDelay(this.failures, this.options.reconnect, this.random);
    this.failures += 1;
    this.timer = setTimeout(() => this.dispatch('timer'), delay);
    keepAlive(this.timer, this.wanted);
  }

  /** In `open`: the idle countdown runs only while nothing is followed. */
  private armIdleTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = this.wanted ? undefined : unrefTimer(setTimeout(() => this.dispatch('timer'), this.options.idleTimeoutMs));
  }

  private dropSocket(reason: string): void {
    this.attemptToken = undefined;
    const socket = this.socket;
    this.socket = undefined;
    if (!socket) return;
    try {
      socket.close(1000, reason);
    } catch {
      // Already closed or never opened: nothing left to release.
    }
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** What an `error` event tells: `ws` gives the socket's error and its message, browsers nothing. */
function failureOf(event: unknown): { reason: string; cause?: unknown } {
  const { message, error } = (event ?? {}) as { message?: unknown; error?: unknown };
  if (typeof message === 'string' && message !== '') return { reason: message, cause: error };
  return { reason: 'the WebSocket connection failed' };
}

/** Refs or unrefs a Node timer (browsers have neither, nor need them). */
function keepAlive(timer: ReturnType<typeof setTimeout>, alive: boolean): void {
  const handle = timer as { ref?: () => void; unref?: () => void };
  if (alive) handle.ref?.();
  else handle.unref?.();
}
