import type { WebSocketConstructor } from '../../../packages/client/src/web-socket.js';

type Listener = (event: { data?: unknown }) => void;

/**
 * A hand-written WebSocket for the client's unit tests: it records what the client sends and
 * how it closed it, and the test plays the gateway (`accept`, `push`, `drop`, `fail`). Nothing
 * happens on its own, so fake timers decide every step.
 */
export class FakeWebSocket {
  static created: FakeWebSocket[] = [];
  readyState = 0;
  readonly sent: Array<Record<string, unknown>> = [];
  closedWith: { code?: number; reason?: string } | undefined;
  private readonly listeners = new Map<string, Listener[]>();

  constructor(readonly url: string) {
    FakeWebSocket.created.push(this);
  }

  /** The most recent socket the client made. */
  static latest(): FakeWebSocket {
    const socket = FakeWebSocket.created.at(-1);
    if (!socket) throw new Error('no socket was created');
    return socket;
  }

  static reset(): void {
    FakeWebSocket.created = [];
  }

  addEventListener(type: string, listener: Listener): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('not open');
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  close(code?: number, reason?: string): void {
    if (this.readyState === 3) return;
    this.closedWith = { code, reason };
    this.readyState = 3;
    this.emit('close', {});
  }

  // --- the gateway's side

  accept(): void {
    this.readyState = 1;
    this.emit('open', {});
  }

  push(message: unknown): void {
    this.emit('message', { data: typeof message === 'string' ? message : JSON.stringify(message) });
  }

  /** The connection is lost (the gateway went away). */
  drop(): void {
    this.readyState = 3;
    this.emit('close', {});
  }

  /** An `error` without a following `close`, as some implementations do; `ws` gives a message. */
  fail(message?: string): void {
    this.emit('error', message === undefined ? {} : { message, error: new Error(message) });
  }

  private emit(type: string, event: { data?: unknown; message?: string; error?: Error }): void {
    for (const listener of this.listeners.get(type) ?? []) listener(event);
  }
}

/** FakeWebSocket as the constructor type the client takes. */
export const FakeWebSocketCtor = FakeWebSocket as unknown as WebSocketConstructor;
