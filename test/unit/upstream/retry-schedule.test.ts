// The backoff schedule and the waits upstream asks for, on fake timers with a scripted fetch.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createUpstream, UpstreamError, type UpstreamOptions } from '../../../src/upstream/index.js';
import { errorBody, execution, jsonResponse, scriptedFetch, type FakeAnswer } from './test-server.js';

const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);
const T0_SECONDS = T0 / 1000;

function client(script: FakeAnswer[], options: Partial<UpstreamOptions> = {}): ReturnType<typeof scriptedFetch> & { upstream: ReturnType<typeof createUpstream> } {
  const fake = scriptedFetch(script);
  const upstream = createUpstream({ baseUrl: 'https://doclo.test/api/v1', apiKey: 'k', fetch: fake.fetch, random: () => 0, ...options });
  return { ...fake, upstream };
}

const ok = (): Response => jsonResponse(200, execution('running'));
const unavailable = (headers: Record<string, string> = {}): Response => jsonResponse(503, errorBody('SERVICE_UNAVAILABLE', 'busy'), headers);
const tooMany = (headers: Record<string, string> = {}): Response => jsonResponse(429, errorBody('RATE_LIMITED', 'slow down'), headers);

/** Offsets from T0 at which fetch was called. */
const offsets = (calls: Array<{ atMs: number }>): number[] => calls.map((c) => c.atMs - T0);

describe('retry schedule', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(T0);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('backs off exponentially at the top of the full-jitter range', async () => {
    const { upstream, calls } = client([unavailable(), unavailable(), unavailable(), ok()], { baseDelayMs: 100, maxDelayMs: 10_000, random: () => 0.999_999 });
    const pending = upstream.getRun('exec_abc123');
    await vi.advanceTimersByTimeAsync(1000);
    await pending;
    expect(offsets(calls)).toEqual([0, 99, 99 + 199, 99 + 199 + 399]);
  });

  it('draws each delay within [0, min(maxDelay, base·2^attempt))', async () => {
    const draws = [0.25, 0.5, 0.75, 0.9];
    let i = 0;
    const { upstream, calls } = client([unavailable(), unavailable(), unavailable(), unavailable(), ok()], {
      baseDelayMs: 1000, maxDelayMs: 3000, random: () => draws[i++] ?? 0,
    });
    const pending = upstream.getRun('exec_abc123');
    await vi.advanceTimersByTimeAsync(20_000);
    await pending;
    const gaps = offsets(calls).slice(1).map((t, k) => t - offsets(calls)[k]!);
    expect(gaps).toEqual([250, 1000, 2250, 2700]); // ceilings 1000, 2000, 3000 (capped), 3000
  });

  it('makes `retries` attempts after the first, then surfaces the last error', async () => {
    const { upstream, calls } = client([unavailable()], { retries: 2 });
    const pending = upstream.getRun('exec_abc123').catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(1000);
    expect(await pending).toMatchObject({ status: 503, kind: 'server', code: 'SERVICE_UNAVAILABLE' });
    expect(calls).toHaveLength(3);
  });

  it('retries a thrown fetch (network error)', async () => {
    const { upstream, calls } = client([new TypeError('fetch failed'), ok()]);
    const pending = upstream.getRun('exec_abc123');
    await vi.advanceTimersByTimeAsync(0);
    await expect(pending).resolves.toMatchObject({ status: 'running' });
    expect(calls).toHaveLength(2);
  });

  it('waits at least Retry-After seconds after a 429', async () => {
    const { upstream, calls } = client([tooMany({ 'Retry-After': '7' }), ok()]);
    const pending = upstream.getRun('exec_abc123');
    await vi.advanceTimersByTimeAsync(6999);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await pending;
    expect(offsets(calls)).toEqual([0, 7000]);
  });

  it('waits until a Retry-After HTTP-date after a 429', async () => {
    const { upstream, calls } = client([tooMany({ 'Retry-After': new Date(T0 + 12_000).toUTCString() }), ok()]);
    const pending = upstream.getRun('exec_abc123');
    await vi.advanceTimersByTimeAsync(12_000);
    await pending;
    expect(offsets(calls)).toEqual([0, 12_000]);
  });

  it('waits until X-RateLimit-Reset after a 429 without Retry-After', async () => {
    const { upstream, calls } = client([
      tooMany({ 'X-RateLimit-Limit': '60', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': String(T0_SECONDS + 9) }),
      ok(),
    ]);
    const pending = upstream.getRun('exec_abc123');
    await vi.advanceTimersByTimeAsync(8999);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await pending;
    expect(offsets(calls)).toEqual([0, 9000]);
  });

  it('honours Retry-After on a 503 too', async () => {
    const { upstream, calls } = client([unavailable({ 'Retry-After': '3' }), ok()]);
    const pending = upstream.getRun('exec_abc123');
    await vi.advanceTimersByTimeAsync(3000);
    await pending;
    expect(offsets(calls)).toEqual([0, 3000]);
  });

  it('never waits less than the backoff when Retry-After is shorter', async () => {
    const { upstream, calls } = client([tooMany({ 'Retry-After': '0' }), ok()], { baseDelayMs: 400, random: () => 0.5 });
    const pending = upstream.getRun('exec_abc123');
    await vi.advanceTimersByTimeAsync(400);
    await pending;
    expect(offsets(calls)).toEqual([0, 200]);
  });

  it('surfaces the error instead of sleeping through a wait longer than maxWaitMs', async () => {
    const { upstream, calls } = client([tooMany({ 'Retry-After': '120' }), ok()], { maxWaitMs: 60_000 });
    const err = await upstream.getRun('exec_abc123').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({ status: 429, kind: 'rate_limited', code: 'RATE_LIMITED', message: 'slow down', retryAfterMs: 120_000 });
    expect(calls).toHaveLength(1);
  });

  it("a call's own maxWaitMs answers a longer 429 at once, with Doclo's X-RateLimit-* set, and sends nothing more", async () => {
    const window = { 'X-RateLimit-Limit': '3', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': String(T0_SECONDS + 58) };
    const { upstream, calls } = client([tooMany({ 'Retry-After': '58', ...window }), ok()]);
    const err = await upstream.startRun('flow_1', { input: {} }, { maxWaitMs: 2000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 429, kind: 'rate_limited', retryAfterMs: 58_000, rateLimit: { limit: 3, remaining: 0, resetAtMs: T0 + 58_000 } });
    // The next start is refused by the budget itself (no request), with the same figures.
    const next = await upstream.startRun('flow_1', { input: {} }, { maxWaitMs: 2000 }).catch((e: unknown) => e);
    expect(next).toMatchObject({ status: 429, kind: 'rate_limited', rateLimit: { limit: 3, remaining: 0 } });
    await vi.advanceTimersByTimeAsync(120_000);
    expect(calls).toHaveLength(1);
  });

  it("a call's own maxWaitMs still sleeps through a short Retry-After", async () => {
    const { upstream, calls } = client([tooMany({ 'Retry-After': '1' }), ok()]);
    const pending = upstream.startRun('flow_1', { input: {} }, { maxWaitMs: 2000 });
    await vi.advanceTimersByTimeAsync(1000);
    await pending;
    expect(offsets(calls)).toEqual([0, 1000]);
  });

  it('an abort during the backoff of a start ends it: no attempt after the caller left', async () => {
    const { upstream, calls } = client([unavailable({ 'Retry-After': '1' }), ok()]);
    const controller = new AbortController();
    const pending = upstream.startRun('flow_1', { input: {} }, { signal: controller.signal }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(500);
    controller.abort();
    expect(await pending).toMatchObject({ name: 'AbortError' });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toHaveLength(1);
  });

  it("a 429's Retry-After holds back every other call as well", async () => {
    const { upstream, calls } = client([tooMany({ 'Retry-After': '5' }), ok()], { retries: 0 });
    await expect(upstream.getRun('exec_abc123')).rejects.toMatchObject({ kind: 'rate_limited', retryAfterMs: 5000 });
    const other = upstream.cancelRun('exec_abc123');
    await vi.advanceTimersByTimeAsync(4999);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await other;
    expect(offsets(calls)).toEqual([0, 5000]);
  });

  it('never retries a 4xx', async () => {
    for (const status of [400, 401, 402, 403, 404, 409, 422]) {
      const { upstream, calls } = client([jsonResponse(status, errorBody('X', 'no')), ok()]);
      await expect(upstream.startRun('flow_1', { input: {} })).rejects.toMatchObject({ status, retryable: false });
      expect(calls).toHaveLength(1);
    }
  });

  it('sends the same generated idempotency key on every attempt of a start', async () => {
    let n = 0;
    const { upstream, calls } = client([unavailable(), new TypeError('fetch failed'), ok()], { newIdempotencyKey: () => `key-${++n}` });
    const body = { input: {} };
    const pending = upstream.startRun('flow_1', body);
    await vi.advanceTimersByTimeAsync(1000);
    await pending;
    expect(calls.map((c) => (JSON.parse(c.init.body as string) as { idempotencyKey: string }).idempotencyKey)).toEqual(['key-1', 'key-1', 'key-1']);
    expect(body).toEqual({ input: {}, idempotencyKey: 'key-1' });
  });
});

describe('rate budget in the client', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(T0);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const spent = (remaining: number, resetInSeconds: number, limit = 60): Record<string, string> => ({
    'X-RateLimit-Limit': String(limit), 'X-RateLimit-Remaining': String(remaining), 'X-RateLimit-Reset': String(T0_SECONDS + resetInSeconds),
  });

  it('makes start, get and cancel wait for the window instead of sending into a 429', async () => {
    const { upstream, calls } = client([jsonResponse(200, execution('running'), spent(0, 10)), ok()]);
    await upstream.getRun('exec_abc123');
    expect(upstream.rateBudget()).toEqual({ limit: 60, remaining: 0, resetAtMs: T0 + 10_000 });
    const waiting = [upstream.startRun('flow_1', { input: {} }), upstream.getRun('exec_abc123'), upstream.cancelRun('exec_abc123')];
    await vi.advanceTimersByTimeAsync(9999);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await Promise.all(waiting);
    expect(offsets(calls)).toEqual([0, 10_000, 10_000, 10_000]);
  });

  it('lets starts and cancels use the reserve that polls leave', async () => {
    const { upstream, calls } = client([jsonResponse(200, execution('running'), spent(5, 30, 50)), ok()]);
    await upstream.getRun('exec_abc123');
    const poll = upstream.getRun('exec_abc123', { priority: 'low' });
    const start = upstream.startRun('flow_1', { input: {} });
    await vi.advanceTimersByTimeAsync(0);
    await start;
    expect(calls).toHaveLength(2);
    expect(calls[1]!.url).toContain('/flows/flow_1/run');
    await vi.advanceTimersByTimeAsync(30_000);
    await poll;
    expect(calls).toHaveLength(3);
  });

  it('an abort ends the wait for the window', async () => {
    const { upstream, calls } = client([jsonResponse(200, execution('running'), spent(0, 30)), ok()]);
    await upstream.getRun('exec_abc123');
    const controller = new AbortController();
    const waiting = upstream.getRun('exec_abc123', { signal: controller.signal });
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    expect(calls).toHaveLength(1);
  });

  it('close() ends the wait for the window', async () => {
    const { upstream } = client([jsonResponse(200, execution('running'), spent(0, 30)), ok()]);
    await upstream.getRun('exec_abc123');
    const waiting = upstream.getRun('exec_abc123');
    upstream.close();
    await expect(waiting).rejects.toMatchObject({ code: 'RUNGATE_ERR_UPSTREAM_CLOSED' });
  });
});
