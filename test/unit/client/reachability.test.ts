import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createClient, NetworkError, TimeoutError, type FetchLike, type RungateClient } from '../../../packages/client/src/index.js';
import { causeText, Reachability } from '../../../packages/client/src/reachability.js';
import { FakeWebSocket, FakeWebSocketCtor } from './fake-web-socket.js';

/** What fetch throws when nothing listens: "fetch failed", the socket's error in `cause`. */
function refused(): TypeError {
  const socketError = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4999'), { code: 'ECONNREFUSED' });
  return new TypeError('fetch failed', { cause: socketError });
}

describe('Reachability', () => {
  it('says the gateway is unreachable only when nothing was heard from it since the mark and the last attempt failed', () => {
    const reach = new Reachability();
    const start = reach.mark();
    expect(reach.since(start)).toBeUndefined();
    reach.failed('connect ECONNREFUSED', 'cause');
    expect(reach.since(start)).toEqual({ reason: 'connect ECONNREFUSED', cause: 'cause' });
    reach.contacted();
    expect(reach.since(start)).toBeUndefined();
    // Heard from after the mark: a later failure is an outage during the wait, not "never reached".
    reach.failed('reset', undefined);
    expect(reach.since(start)).toBeUndefined();
    // A wait that starts now has heard nothing since, and the latest attempt failed.
    const later = reach.mark();
    reach.failed('refused again', undefined);
    expect(reach.since(later)?.reason).toBe('refused again');
  });

  it('counts an open socket as contact for as long as it stays open', () => {
    const reach = new Reachability();
    reach.socket(true);
    const mark = reach.mark();
    reach.failed('a long-poll failed', undefined);
    expect(reach.since(mark)).toBeUndefined();
    reach.socket(false);
    expect(reach.since(mark)?.reason).toBe('a long-poll failed');
  });
});

describe('causeText', () => {
  it("reads the socket's own reason out of fetch's error, and every address tried", () => {
    expect(causeText(refused())).toBe('connect ECONNREFUSED 127.0.0.1:4999');
    const both = new TypeError('fetch failed', {
      cause: new AggregateError([new Error('connect ECONNREFUSED ::1:4999'), new Error('connect ECONNREFUSED 127.0.0.1:4999')], ''),
    });
    expect(causeText(both)).toBe('connect ECONNREFUSED ::1:4999; connect ECONNREFUSED 127.0.0.1:4999');
    expect(causeText(Object.assign(new Error(''), { code: 'ECONNRESET' }))).toBe('ECONNRESET');
    expect(causeText('plain')).toBe('plain');
  });
});

describe('waitForCompletion when the gateway cannot be reached (fake timers)', () => {
  let client: RungateClient | undefined;
  beforeEach(() => {
    vi.useFakeTimers();
    FakeWebSocket.reset();
  });
  afterEach(() => {
    client?.close();
    vi.useRealTimers();
  });

  function make(fetch: FetchLike): RungateClient {
    client = createClient({
      url: 'http://127.0.0.1:4999',
      WebSocket: FakeWebSocketCtor,
      fetch,
      reconnect: { initialDelayMs: 100, maxDelayMs: 100 },
      fallbackAfterMs: 500,
    });
    return client;
  }

  it('rejects with NetworkError naming the URL and the reason, at the deadline', async () => {
    const c = make(() => Promise.reject(refused()));
    const outcome = c.runs.waitForCompletion('exec_x', { timeout: 3000 }).catch((error: unknown) => error);
    // Every socket attempt fails as `ws` reports it, and every long-poll is refused.
    for (let ms = 0; ms < 3000; ms += 50) {
      for (const socket of FakeWebSocket.created) if (socket.readyState === 0) socket.fail('connect ECONNREFUSED 127.0.0.1:4999');
      await vi.advanceTimersByTimeAsync(50);
    }
    const error = await outcome;
    expect(error).toBeInstanceOf(NetworkError);
    expect(error).toMatchObject({ name: 'NetworkError', code: 'NETWORK_ERROR' });
    expect((error as Error).message).toBe('Execution exec_x did not complete within 3000ms: cannot reach the gateway at http://127.0.0.1:4999: connect ECONNREFUSED 127.0.0.1:4999');
    expect((error as Error).cause).toBeInstanceOf(Error);
  });

  it('still rejects with TimeoutError when the gateway answered and the run just is not done', async () => {
    const queued = { id: 'exec_x', flowId: 'f', status: 'queued', seq: 1, source: 'request' };
    const c = make(() => Promise.resolve(new Response(JSON.stringify(queued), { status: 200 })));
    const outcome = c.runs.waitForCompletion('exec_x', { timeout: 3000 }).catch((error: unknown) => error);
    // The socket never opens (a proxy that swallows upgrades); the long-polls are answered.
    for (let ms = 0; ms < 3000; ms += 50) {
      for (const socket of FakeWebSocket.created) if (socket.readyState === 0) socket.fail();
      await vi.advanceTimersByTimeAsync(50);
    }
    const error = await outcome;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ name: 'TimeoutError', code: 'TIMEOUT', message: 'Execution exec_x did not complete within 3000ms' });
  });

  it('gives a browser-like socket failure, without a message, a reason of its own', async () => {
    const c = make(() => new Promise<Response>(() => undefined));
    const outcome = c.runs.waitForCompletion('exec_x', { timeout: 300 }).catch((error: unknown) => error);
    await vi.advanceTimersByTimeAsync(0);
    FakeWebSocket.latest().fail();
    await vi.advanceTimersByTimeAsync(300);
    expect(((await outcome) as Error).message).toBe('Execution exec_x did not complete within 300ms: cannot reach the gateway at http://127.0.0.1:4999: the WebSocket connection failed');
  });
});
