import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DocloError } from '../../../packages/client/src/errors.js';
import type { RequestOptions } from '../../../packages/client/src/http-client.js';
import { PushConnection } from '../../../packages/client/src/push/push-connection.js';
import type { Run } from '../../../packages/client/src/run.js';
import { FakeWebSocket, FakeWebSocketCtor } from './fake-web-socket.js';

const FALLBACK_AFTER_MS = 2_000;
const IDLE_TIMEOUT_MS = 1_000;

const run = (id: string, seq: number, status: Run['status']): Run => ({ id, flowId: 'f', status, seq, source: 'webhook' });

/** A PushConnection over FakeWebSocket and a scripted REST side that the test answers. */
function makeConnection() {
  const polls: Array<{ path: string; options: RequestOptions; answer(value: unknown): void }> = [];
  const http = {
    request<T>(_method: 'GET' | 'POST', path: string, options: RequestOptions = {}): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        options.signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
        polls.push({ path, options, answer: (value) => resolve(value as T) });
      });
    },
  };
  const connection = new PushConnection({
    wsUrl: 'ws://gw.test/ws',
    token: undefined,
    loadWebSocket: () => Promise.resolve(FakeWebSocketCtor),
    http,
    reconnect: { initialDelayMs: 10_000, maxDelayMs: 10_000 },
    longPollSeconds: 30,
    idleTimeoutMs: IDLE_TIMEOUT_MS,
    fallbackAfterMs: FALLBACK_AFTER_MS,
    connectTimeoutMs: 60_000,
  });
  return { connection, polls };
}

/** A listener that records what it got. */
function recorder() {
  const runs: Run[] = [];
  const errors: DocloError[] = [];
  return { runs, errors, listener: { onRun: (value: Run) => runs.push(value), onError: (error: DocloError) => errors.push(error) } };
}

describe('PushConnection: the socket, the fallback and the followers together (fake timers)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    // Jitter at the top of its range: a reconnect waits (almost) the full 10 s.
    vi.spyOn(Math, 'random').mockReturnValue(0.999);
    FakeWebSocket.reset();
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  it('long-polls while the socket is down, stops when it is back, and hands no state over twice', async () => {
    const { connection, polls } = makeConnection();
    const seen = recorder();
    connection.listen('exec_a', seen.listener);
    await vi.advanceTimersByTimeAsync(0);
    const first = FakeWebSocket.latest();
    first.accept();
    first.push({ type: 'run', run: run('exec_a', 1, 'queued') });
    first.drop();
    // The next attempt is far away (10 s of backoff); the fallback starts after 2 s.
    await vi.advanceTimersByTimeAsync(FALLBACK_AFTER_MS - 1);
    expect(polls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(polls.map((poll) => poll.path)).toEqual(['/api/v1/runs/exec_a']);
    polls[0]!.answer(run('exec_a', 1, 'queued'));
    await vi.advanceTimersByTimeAsync(1_000);
    polls[1]!.answer(run('exec_a', 2, 'running'));
    await vi.advanceTimersByTimeAsync(10_000);
    // The socket is back: the poll in flight is aborted and the resubscribe says what the app has.
    const second = FakeWebSocket.latest();
    expect(second).not.toBe(first);
    second.accept();
    expect(polls.at(-1)!.options.signal?.aborted).toBe(true);
    expect(second.sent).toEqual([{ op: 'subscribe', runId: 'exec_a', since: 2 }]);
    second.push({ type: 'run', run: run('exec_a', 2, 'running') });
    second.push({ type: 'run', run: run('exec_a', 3, 'success') });
    expect(seen.runs.map((value) => value.seq)).toEqual([1, 2, 3]);
    expect(second.sent.at(-1)).toEqual({ op: 'unsubscribe', runId: 'exec_a' });
    const pollsAtTheEnd = polls.length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(polls).toHaveLength(pollsAtTheEnd);
    connection.close();
  });

  it('a run followed while the fallback is active is polled at once', async () => {
    const { connection, polls } = makeConnection();
    connection.listen('exec_a', recorder().listener);
    await vi.advanceTimersByTimeAsync(0);
    FakeWebSocket.latest().drop();
    await vi.advanceTimersByTimeAsync(FALLBACK_AFTER_MS);
    expect(polls).toHaveLength(1);
    connection.listen('exec_b', recorder().listener);
    expect(polls.map((poll) => poll.path)).toEqual(['/api/v1/runs/exec_a', '/api/v1/runs/exec_b']);
    connection.close();
  });

  it('lets the socket idle out once every followed run is final, and reopens it for a new one', async () => {
    const { connection } = makeConnection();
    const seen = recorder();
    connection.listen('exec_a', seen.listener);
    await vi.advanceTimersByTimeAsync(0);
    const socket = FakeWebSocket.latest();
    socket.accept();
    socket.push({ type: 'run', run: run('exec_a', 5, 'failed') });
    // Still listened to, but final: nothing more can come, so the socket is not needed.
    await vi.advanceTimersByTimeAsync(IDLE_TIMEOUT_MS);
    expect(socket.closedWith).toEqual({ code: 1000, reason: 'idle' });
    // A new listener of that run gets the remembered state, without a socket.
    const later = recorder();
    connection.listen('exec_a', later.listener);
    await vi.advanceTimersByTimeAsync(0);
    expect(later.runs.map((value) => value.status)).toEqual(['failed']);
    expect(FakeWebSocket.created).toHaveLength(1);
    connection.listen('exec_b', recorder().listener);
    await vi.advanceTimersByTimeAsync(0);
    expect(FakeWebSocket.created).toHaveLength(2);
    connection.close();
  });

  it('reads a run once over REST when this socket already carried it and its state was forgotten', async () => {
    const { connection, polls } = makeConnection();
    connection.listen('exec_a', recorder().listener);
    await vi.advanceTimersByTimeAsync(0);
    const socket = FakeWebSocket.latest();
    socket.accept();
    // A run of another subscription (a flow, say) went by; the app never kept it.
    socket.push({ type: 'run', run: run('exec_b', 7, 'running') });
    const seen = recorder();
    connection.listen('exec_b', seen.listener);
    expect(socket.sent.at(-1)).toEqual({ op: 'subscribe', runId: 'exec_b' });
    expect(polls.map((poll) => [poll.path, poll.options.headers])).toEqual([['/api/v1/runs/exec_b', undefined]]);
    polls[0]!.answer(run('exec_b', 7, 'running'));
    await vi.advanceTimersByTimeAsync(0);
    expect(seen.runs.map((value) => value.seq)).toEqual([7]);
    connection.close();
  });
});
