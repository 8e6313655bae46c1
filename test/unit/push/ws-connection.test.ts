import { textFrame } from '../../../src/push/text-frame.js';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ClientMessage } from '../../../src/push/client-message.js';
import { MAX_QUEUED_FRAMES } from '../../../src/push/ws-connection.js';
import { FakeClock, fakeConnection, principal, record, run } from './fakes.js';

const subscribe = (runId: string): ClientMessage => ({ op: 'subscribe', target: { kind: 'runs', runIds: [runId] }, since: undefined });
const auth: ClientMessage = { op: 'auth', token: 't' };

describe('WsConnection', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends a run only when its seq grows, so the final state goes out once', () => {
    const { connection, socket, metrics } = fakeConnection();
    connection.sendRun(run('exec_1', 1));
    connection.sendRun(run('exec_1', 3, 'success'));
    connection.sendRun(run('exec_1', 2));
    connection.sendRun(run('exec_1', 3, 'success'));
    expect(socket.messages().map((m) => m.run.seq)).toEqual([1, 3]);
    expect(metrics.wsMessagesSent.value).toBe(2);
  });

  it('sends a final state once, also when it comes back under a higher seq after a store reset', () => {
    const { connection, socket } = fakeConnection();
    connection.sendRun(run('exec_1', 4));
    connection.sendRun(run('exec_1', 1_000_000_001, 'success'));
    connection.sendRun(run('exec_1', 1_000_000_002, 'success'));
    connection.sendSnapshot(run('exec_1', 1_000_000_003, 'success'), undefined);
    expect(socket.messages().map((m) => [m.run.seq, m.run.status])).toEqual([
      [4, 'running'],
      [1_000_000_001, 'success'],
    ]);
  });

  it('sends the bytes it is given, so one serialisation serves every peer', () => {
    const { connection, socket } = fakeConnection();
    const frame = textFrame(Buffer.from('{"type":"run","run":{"id":"exec_1","seq":1}}'));
    connection.sendRun(run('exec_1', 1), frame);
    expect(socket.frames[0]).toBe(frame.payload);
  });

  it('skips a snapshot the peer already has (since) and what is not newer than it afterwards', () => {
    const { connection, socket } = fakeConnection();
    connection.sendSnapshot(run('exec_1', 4), 4);
    connection.sendRun(run('exec_1', 3));
    connection.sendSnapshot(run('exec_2', 5), 4);
    connection.sendRun(run('exec_1', 5));
    expect(socket.messages().map((m) => [m.run.id, m.run.seq])).toEqual([
      ['exec_2', 5],
      ['exec_1', 5],
    ]);
  });

  it('closes a slow consumer with 1013 instead of buffering, and counts what it dropped', () => {
    const { connection, socket, metrics } = fakeConnection(undefined, { maxBufferedBytes: 100 });
    socket.bufferedAmount = 90;
    connection.sendRun(run('exec_1', 1));
    expect(socket.closed).toEqual({ code: 1013, reason: 'slow consumer: too many unsent messages' });
    expect(metrics.wsSlowConsumerCloses.value).toBe(1);
    expect(metrics.wsMessagesDropped.value).toBe(1);
    // Not remembered as sent, and nothing more goes out once closing.
    connection.sendRun(run('exec_1', 1));
    expect(socket.frames).toHaveLength(0);
    expect(connection.open).toBe(false);
  });

  it('cuts a peer whose close handshake does not finish, and one whose close throws', () => {
    const { connection, socket } = fakeConnection();
    connection.close(1001, 'bye');
    connection.close(1000, 'again');
    expect(socket.closed).toEqual({ code: 1001, reason: 'bye' });
    vi.advanceTimersByTime(1999);
    expect(socket.terminated).toBe(false);
    vi.advanceTimersByTime(1);
    expect(socket.terminated).toBe(true);

    const other = fakeConnection();
    other.socket.close = () => {
      throw new Error('not open');
    };
    other.connection.close(1001, 'bye');
    expect(other.socket.terminated).toBe(true);
  });

  it('closes with 1008 when its token expires, reading the injected clock', () => {
    const clock = new FakeClock(5_000);
    const { connection, socket } = fakeConnection(undefined, { now: clock.now });
    connection.authenticate(principal('alice', { expiresAtMs: 6_000 }), 'sub:alice');
    expect(connection.principal?.sub).toBe('alice');
    expect(connection.clientKey).toBe('sub:alice');
    vi.advanceTimersByTime(999);
    expect(socket.closed).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(socket.closed).toEqual({ code: 1008, reason: 'token expired' });
  });

  it('a refreshed token moves the expiry; an already expired one closes at once', () => {
    const clock = new FakeClock(5_000);
    const { connection, socket } = fakeConnection(undefined, { now: clock.now });
    connection.authenticate(principal('alice', { expiresAtMs: 6_000 }));
    vi.advanceTimersByTime(500);
    clock.nowMs = 5_500;
    connection.authenticate(principal('alice', { expiresAtMs: 9_500 }));
    vi.advanceTimersByTime(3_999);
    expect(socket.closed).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(socket.closed?.code).toBe(1008);

    const late = fakeConnection(undefined, { now: clock.now });
    late.connection.authenticate(principal('bob', { expiresAtMs: 1 }));
    vi.advanceTimersByTime(0);
    expect(late.socket.closed?.code).toBe(1008);
  });

  it('closes with 1008 when no token comes in time, and not when one does or it is gone', () => {
    const waiting = fakeConnection();
    waiting.connection.requireAuthWithin(1000);
    vi.advanceTimersByTime(1000);
    expect(waiting.socket.closed).toEqual({ code: 1008, reason: 'authentication required' });

    const authenticated = fakeConnection();
    authenticated.connection.requireAuthWithin(1000);
    authenticated.connection.authenticate(principal('alice'));
    const gone = fakeConnection();
    gone.connection.requireAuthWithin(1000);
    gone.connection.dispose();
    vi.advanceTimersByTime(5000);
    expect(authenticated.socket.closed).toBeUndefined();
    expect(gone.socket.closed).toBeUndefined();
    expect(gone.connection.live).toBe(false);
  });

  it('pings on each heartbeat and cuts a peer that did not answer the last one', () => {
    const { connection, socket } = fakeConnection();
    connection.heartbeat();
    connection.pong();
    connection.heartbeat();
    expect(socket.pings).toBe(2);
    expect(socket.terminated).toBe(false);
    connection.heartbeat();
    expect(socket.terminated).toBe(true);

    const broken = fakeConnection();
    broken.socket.throwOnPing = true;
    broken.connection.heartbeat();
    expect(broken.socket.terminated).toBe(true);
  });

  it('reads only what its principal may read', () => {
    const { connection } = fakeConnection();
    expect(connection.mayRead(record(run('exec_1', 1), 'bob'))).toBe(true); // auth off
    connection.authenticate(principal('alice'));
    expect(connection.mayRead(record(run('exec_1', 1), 'alice'))).toBe(true);
    expect(connection.mayRead(record(run('exec_1', 1), 'bob'))).toBe(false);
  });

  describe('its frame queue', () => {
    /** A handler that holds on auth frames until the test releases them. */
    function holdingHandler() {
      const handled: ClientMessage[] = [];
      const releases: Array<() => void> = [];
      const handle = (message: ClientMessage) => {
        handled.push(message);
        if (message.op === 'auth') return new Promise<void>((resolve) => releases.push(resolve));
        return undefined;
      };
      return { handled, releases, handle };
    }

    it('holds the frames after a pending one back, in order, and drains them when it settles', async () => {
      const h = holdingHandler();
      const { connection } = fakeConnection(h.handle);
      connection.receive(auth);
      connection.receive(subscribe('a'));
      connection.receive(subscribe('b'));
      expect(h.handled).toEqual([auth]);
      h.releases[0]!();
      await vi.runAllTimersAsync();
      expect(h.handled).toEqual([auth, subscribe('a'), subscribe('b')]);
      connection.receive(subscribe('c'));
      expect(h.handled.at(-1)).toEqual(subscribe('c'));
    });

    it('a queued auth frame holds the rest back again', async () => {
      const h = holdingHandler();
      const { connection } = fakeConnection(h.handle);
      connection.receive(auth);
      connection.receive(subscribe('a'));
      connection.receive(auth);
      connection.receive(subscribe('b'));
      h.releases[0]!();
      await vi.runAllTimersAsync();
      expect(h.handled).toEqual([auth, subscribe('a'), auth]);
      h.releases[1]!();
      await vi.runAllTimersAsync();
      expect(h.handled).toEqual([auth, subscribe('a'), auth, subscribe('b')]);
    });

    it(`queues at most ${MAX_QUEUED_FRAMES} frames and answers the rest with limit_exceeded`, async () => {
      const h = holdingHandler();
      const { connection, socket } = fakeConnection(h.handle);
      connection.receive(auth);
      for (let i = 0; i < MAX_QUEUED_FRAMES + 2; i++) connection.receive(subscribe(`r${i}`));
      expect(socket.messages()).toEqual([
        { type: 'error', code: 'limit_exceeded', message: 'too many frames while authenticating' },
        { type: 'error', code: 'limit_exceeded', message: 'too many frames while authenticating' },
      ]);
      h.releases[0]!();
      await vi.runAllTimersAsync();
      expect(h.handled).toHaveLength(1 + MAX_QUEUED_FRAMES);
    });

    it('drops its queue when the peer is gone', async () => {
      const h = holdingHandler();
      const { connection } = fakeConnection(h.handle);
      connection.receive(auth);
      connection.receive(subscribe('a'));
      connection.dispose();
      h.releases[0]!();
      await vi.runAllTimersAsync();
      expect(h.handled).toEqual([auth]);
    });
  });
});
