import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { NetworkError, NotFoundError, type DocloError } from '../../../packages/client/src/errors.js';
import type { RequestOptions } from '../../../packages/client/src/http-client.js';
import { LongPollFallback } from '../../../packages/client/src/push/long-poll-fallback.js';
import type { Run } from '../../../packages/client/src/run.js';

const FALLBACK_AFTER_MS = 2_000;

const run = (id: string, seq: number, status: Run['status']): Run => ({ id, flowId: 'f', status, seq, source: 'poll' });

/** One request the fallback made; the test answers it. */
interface PendingRequest {
  path: string;
  options: RequestOptions;
  answer(value: unknown): void;
  fail(error: unknown): void;
}

/** A scripted gateway: every GET waits until the test answers it. */
function makeFallback(followed: string[]) {
  const requests: PendingRequest[] = [];
  const delivered: Array<[string, Run]> = [];
  const fatal: Array<[string, DocloError]> = [];
  const wanted = new Set(followed);
  const http = {
    request<T>(_method: 'GET' | 'POST', path: string, options: RequestOptions = {}): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        options.signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
        requests.push({ path, options, answer: (value) => resolve(value as T), fail: reject });
      });
    },
  };
  const fallback = new LongPollFallback({
    http,
    longPollSeconds: 30,
    reconnect: { initialDelayMs: 100, maxDelayMs: 100 },
    fallbackAfterMs: FALLBACK_AFTER_MS,
    followedRuns: () => [...wanted],
    wants: (runId) => wanted.has(runId),
    onRun: (runId, value) => {
      delivered.push([runId, value]);
      if (value.status === 'success') wanted.delete(runId);
    },
    onFatal: (runId, error) => {
      fatal.push([runId, error]);
      wanted.delete(runId);
    },
  });
  return { fallback, requests, delivered, fatal, wanted };
}

describe('LongPollFallback (fake timers)', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('starts only once the socket has been unusable for fallbackAfterMs, one Prefer: wait poll per run', async () => {
    const { fallback, requests } = makeFallback(['exec_a', 'exec_b']);
    fallback.socketUnusable();
    await vi.advanceTimersByTimeAsync(FALLBACK_AFTER_MS - 1);
    // Unusable again (a failed reconnect): the countdown does not restart.
    fallback.socketUnusable();
    expect(requests).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(requests.map((request) => request.path)).toEqual(['/api/v1/runs/exec_a', '/api/v1/runs/exec_b']);
    expect(requests[0]!.options.headers).toEqual({ prefer: 'wait=30' });
    expect(requests[0]!.options.holdMs).toBe(30_000);
  });

  it('never starts when the socket comes back in time', async () => {
    const { fallback, requests } = makeFallback(['exec_a']);
    fallback.socketUnusable();
    await vi.advanceTimersByTimeAsync(FALLBACK_AFTER_MS - 1);
    fallback.disarm();
    await vi.advanceTimersByTimeAsync(FALLBACK_AFTER_MS * 5);
    expect(requests).toHaveLength(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('hands each answer on, pauses after one that was not held, and ends with the run', async () => {
    const { fallback, requests, delivered } = makeFallback(['exec_a']);
    fallback.socketUnusable();
    await vi.advanceTimersByTimeAsync(FALLBACK_AFTER_MS);
    requests[0]!.answer(run('exec_a', 2, 'running'));
    await vi.advanceTimersByTimeAsync(999);
    expect(requests).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(requests).toHaveLength(2);
    // Held for 30 s: the next poll goes out at once.
    await vi.advanceTimersByTimeAsync(30_000);
    requests[1]!.answer(run('exec_a', 3, 'running'));
    await vi.advanceTimersByTimeAsync(0);
    expect(requests).toHaveLength(3);
    requests[2]!.answer(run('exec_a', 4, 'success'));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(requests).toHaveLength(3);
    expect(delivered.map(([, value]) => value.seq)).toEqual([2, 3, 4]);
  });

  it('retries after a failure, spaced out, and stops for good on an answer that cannot change', async () => {
    const { fallback, requests, fatal } = makeFallback(['exec_a']);
    fallback.socketUnusable();
    await vi.advanceTimersByTimeAsync(FALLBACK_AFTER_MS);
    requests[0]!.fail(new NetworkError('refused'));
    await vi.advanceTimersByTimeAsync(199);
    expect(requests).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(requests).toHaveLength(2);
    const gone = new NotFoundError('EXECUTION_NOT_FOUND', 'no such run');
    requests[1]!.fail(gone);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(requests).toHaveLength(2);
    expect(fatal).toEqual([['exec_a', gone]]);
  });

  it('follows a new run at once while active, aborts on stop and on disarm', async () => {
    const { fallback, requests, wanted } = makeFallback(['exec_a']);
    wanted.add('exec_b');
    fallback.follow('exec_b');
    expect(requests).toHaveLength(0);
    fallback.socketUnusable();
    await vi.advanceTimersByTimeAsync(FALLBACK_AFTER_MS);
    expect(requests).toHaveLength(2);
    wanted.add('exec_c');
    fallback.follow('exec_c');
    fallback.follow('exec_c');
    expect(requests.map((request) => request.path)).toEqual(['/api/v1/runs/exec_a', '/api/v1/runs/exec_b', '/api/v1/runs/exec_c']);
    fallback.stop('exec_b');
    expect(requests[1]!.options.signal?.aborted).toBe(true);
    expect(requests[0]!.options.signal?.aborted).toBe(false);
    fallback.disarm();
    expect(requests.every((request) => request.options.signal?.aborted)).toBe(true);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(requests).toHaveLength(3);
  });
});
