import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { STABLE_AFTER_MS, SocketTransport, type TransportState } from '../../../packages/client/src/push/socket-transport.js';
import type { WebSocketConstructor } from '../../../packages/client/src/web-socket.js';
import { FakeWebSocket, FakeWebSocketCtor } from './fake-web-socket.js';

const CONNECT_TIMEOUT_MS = 1_000;
const IDLE_TIMEOUT_MS = 2_000;

/** A transport over FakeWebSocket, with jitter fixed at half the ceiling: delays are 50, 100, 200, 400, 400… */
function makeTransport(loadWebSocket: () => Promise<WebSocketConstructor> = () => Promise.resolve(FakeWebSocketCtor)) {
  const states: TransportState[] = [];
  const messages: Array<Record<string, unknown>> = [];
  const transport = new SocketTransport({
    url: 'ws://gw.test/ws',
    loadWebSocket,
    reconnect: { initialDelayMs: 100, maxDelayMs: 800 },
    idleTimeoutMs: IDLE_TIMEOUT_MS,
    connectTimeoutMs: CONNECT_TIMEOUT_MS,
    onState: (state) => states.push(state),
    onMessage: (message) => messages.push(message),
    random: () => 0.5,
  });
  return { transport, states, messages };
}

/** Lets the WebSocket class load (a resolved promise) without moving the clock. */
const settle = () => vi.advanceTimersByTimeAsync(0);

describe('SocketTransport (fake timers, fake WebSocket)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeWebSocket.reset();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('stays idle until something is wanted, then connects once and opens', async () => {
    const { transport, states } = makeTransport();
    await settle();
    expect(transport.state).toBe('idle');
    expect(FakeWebSocket.created).toHaveLength(0);
    transport.setWanted(true);
    transport.setWanted(true);
    await settle();
    expect(FakeWebSocket.created).toHaveLength(1);
    expect(FakeWebSocket.latest().url).toBe('ws://gw.test/ws');
    FakeWebSocket.latest().accept();
    expect(states).toEqual(['connecting', 'open']);
    expect(transport.send({ op: 'ping' })).toBe(true);
    expect(FakeWebSocket.latest().sent).toEqual([{ op: 'ping' }]);
  });

  it('cannot send unless open', async () => {
    const { transport } = makeTransport();
    expect(transport.send({ op: 'x' })).toBe(false);
    transport.setWanted(true);
    await settle();
    expect(transport.send({ op: 'x' })).toBe(false);
  });

  it('reconnects after a loss with exponential backoff and jitter, and keeps growing while attempts fail', async () => {
    const { transport, states } = makeTransport();
    transport.setWanted(true);
    await settle();
    FakeWebSocket.latest().accept();
    FakeWebSocket.latest().drop();
    expect(transport.state).toBe('backoff');
    for (const delay of [50, 100, 200, 400, 400]) {
      const before = FakeWebSocket.created.length;
      await vi.advanceTimersByTimeAsync(delay - 1);
      expect(FakeWebSocket.created).toHaveLength(before);
      await vi.advanceTimersByTimeAsync(1);
      expect(FakeWebSocket.created).toHaveLength(before + 1);
      FakeWebSocket.latest().drop();
    }
    expect(states.slice(0, 5)).toEqual(['connecting', 'open', 'backoff', 'connecting', 'backoff']);
  });

  it('starts the backoff over after a connection that stayed open long enough', async () => {
    const { transport } = makeTransport();
    transport.setWanted(true);
    await settle();
    FakeWebSocket.latest().drop();
    await vi.advanceTimersByTimeAsync(50);
    FakeWebSocket.latest().drop();
    await vi.advanceTimersByTimeAsync(100);
    // Two failures so far: a short-lived connection keeps the next delay at 200.
    FakeWebSocket.latest().accept();
    await vi.advanceTimersByTimeAsync(STABLE_AFTER_MS - 1);
    FakeWebSocket.latest().drop();
    const before = FakeWebSocket.created.length;
    await vi.advanceTimersByTimeAsync(199);
    expect(FakeWebSocket.created).toHaveLength(before);
    await vi.advanceTimersByTimeAsync(1);
    expect(FakeWebSocket.created).toHaveLength(before + 1);
    // This one lasts: the next loss reconnects after the first delay again.
    FakeWebSocket.latest().accept();
    await vi.advanceTimersByTimeAsync(STABLE_AFTER_MS);
    FakeWebSocket.latest().drop();
    await vi.advanceTimersByTimeAsync(50);
    expect(FakeWebSocket.created).toHaveLength(before + 2);
  });

  it('abandons an attempt that neither opens nor fails after the connect timeout', async () => {
    const { transport } = makeTransport();
    transport.setWanted(true);
    await settle();
    const stuck = FakeWebSocket.latest();
    await vi.advanceTimersByTimeAsync(CONNECT_TIMEOUT_MS);
    expect(transport.state).toBe('backoff');
    expect(stuck.closedWith).toEqual({ code: 1000, reason: 'connect timeout' });
    // Its late `open` changes nothing.
    stuck.accept();
    expect(transport.state).toBe('backoff');
  });

  it('treats an error without a close as the end of the socket, once', async () => {
    const { transport, states } = makeTransport();
    transport.setWanted(true);
    await settle();
    FakeWebSocket.latest().accept();
    FakeWebSocket.latest().fail();
    FakeWebSocket.latest().fail();
    expect(states).toEqual(['connecting', 'open', 'backoff']);
  });

  it('backs off when the WebSocket class cannot be loaded (no ws in Node 20)', async () => {
    const { transport } = makeTransport(() => Promise.reject(new Error('no ws')));
    transport.setWanted(true);
    await settle();
    expect(transport.state).toBe('backoff');
  });

  it('closes an open socket after the idle timeout once nothing is wanted, unless wanted again', async () => {
    const { transport, states } = makeTransport();
    transport.setWanted(true);
    await settle();
    const socket = FakeWebSocket.latest();
    socket.accept();
    transport.setWanted(false);
    await vi.advanceTimersByTimeAsync(IDLE_TIMEOUT_MS - 1);
    transport.setWanted(true);
    await vi.advanceTimersByTimeAsync(IDLE_TIMEOUT_MS * 2);
    expect(transport.state).toBe('open');
    transport.setWanted(false);
    await vi.advanceTimersByTimeAsync(IDLE_TIMEOUT_MS);
    expect(transport.state).toBe('idle');
    expect(socket.closedWith).toEqual({ code: 1000, reason: 'idle' });
    expect(states).toEqual(['connecting', 'open', 'idle']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rests instead of reconnecting when nothing is wanted any more', async () => {
    const { transport, states } = makeTransport();
    transport.setWanted(true);
    await settle();
    FakeWebSocket.latest().drop();
    transport.setWanted(false);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(states).toEqual(['connecting', 'backoff', 'idle']);
    expect(FakeWebSocket.created).toHaveLength(1);
    // Wanted again: a fresh start, from the first delay.
    transport.setWanted(true);
    await settle();
    expect(FakeWebSocket.created).toHaveLength(2);
  });

  it('an attempt finished with nothing wanted opens, then idles out', async () => {
    const { transport, states } = makeTransport();
    transport.setWanted(true);
    await settle();
    transport.setWanted(false);
    FakeWebSocket.latest().accept();
    await vi.advanceTimersByTimeAsync(IDLE_TIMEOUT_MS);
    expect(states).toEqual(['connecting', 'open', 'idle']);
  });

  it('ignores everything from a socket it gave up on', async () => {
    const { transport, states, messages } = makeTransport();
    transport.setWanted(true);
    await settle();
    const first = FakeWebSocket.latest();
    first.accept();
    first.drop();
    await vi.advanceTimersByTimeAsync(50);
    const second = FakeWebSocket.latest();
    second.accept();
    first.push({ type: 'late' });
    first.drop();
    first.fail();
    expect(transport.state).toBe('open');
    expect(messages).toEqual([]);
    expect(states).toEqual(['connecting', 'open', 'backoff', 'connecting', 'open']);
  });

  it('hands on only text frames that are JSON objects', async () => {
    const { transport, messages } = makeTransport();
    transport.setWanted(true);
    await settle();
    const socket = FakeWebSocket.latest();
    socket.accept();
    socket.push('not json');
    socket.push('[1,2]');
    socket.push('null');
    socket.push({ type: 'run' });
    expect(messages).toEqual([{ type: 'run' }]);
  });

  it('closes for good from any state, with no timer left behind', async () => {
    for (const reach of ['idle', 'connecting', 'open', 'backoff'] as const) {
      FakeWebSocket.reset();
      const { transport, states } = makeTransport();
      if (reach !== 'idle') {
        transport.setWanted(true);
        await settle();
        if (reach === 'open') FakeWebSocket.latest().accept();
        if (reach === 'backoff') FakeWebSocket.latest().drop();
      }
      expect(transport.state).toBe(reach);
      transport.close();
      transport.close();
      expect(transport.state).toBe('closed');
      expect(states.at(-1)).toBe('closed');
      expect(states.filter((state) => state === 'closed')).toHaveLength(1);
      if (reach === 'connecting' || reach === 'open') expect(FakeWebSocket.latest().closedWith).toEqual({ code: 1000, reason: 'client closed' });
      expect(vi.getTimerCount()).toBe(0);
      transport.setWanted(true);
      await vi.advanceTimersByTimeAsync(10_000);
      expect(transport.state).toBe('closed');
    }
  });
});
