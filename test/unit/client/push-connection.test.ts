import { afterEach, describe, expect, it } from 'vitest';
import { createClient, NotFoundError, RateLimitError, type DocloError, type Run, type RungateClient, type WebSocketConstructor } from '../../../src/client/index.js';

/** A scripted WebSocket: the test plays the gateway. */
class FakeSocket {
  static all: FakeSocket[] = [];
  readyState = 0;
  readonly sent: Array<Record<string, unknown>> = [];
  private readonly listeners = new Map<string, Array<(event: { data?: unknown }) => void>>();
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  addEventListener(type: string, listener: (event: { data?: unknown }) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }
  close(): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.emit('close', {});
  }
  // --- the gateway's side
  accept(): void {
    this.readyState = 1;
    this.emit('open', {});
  }
  push(message: unknown): void {
    this.emit('message', { data: JSON.stringify(message) });
  }
  drop(): void {
    this.readyState = 3;
    this.emit('close', {});
  }
  private emit(type: string, event: { data?: unknown }): void {
    for (const listener of this.listeners.get(type) ?? []) listener(event);
  }
}

const run = (id: string, seq: number, status: Run['status']): Run => ({ id, flowId: 'f', status, seq, source: 'webhook' });

async function until(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

const latestSocket = () => FakeSocket.all.at(-1)!;

describe('the client socket (scripted gateway)', () => {
  let client: RungateClient | undefined;
  afterEach(() => {
    client?.close();
    FakeSocket.all = [];
  });

  function make(token?: string): RungateClient {
    client = createClient({
      url: 'http://gw.test:9000/base/',
      ...(token ? { token } : {}),
      WebSocket: FakeSocket as unknown as WebSocketConstructor,
      // No REST in these tests: a fetch that never answers keeps the fallback out of the way.
      fetch: () => new Promise<Response>(() => undefined),
      reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
      fallbackAfterMs: 60_000,
    });
    return client;
  }

  it('opens one socket lazily at <url>/ws, sends auth first, then one subscribe per run', async () => {
    const c = make('tok');
    expect(FakeSocket.all).toHaveLength(0);
    const unsubscribeA = c.runs.subscribe('exec_a', () => undefined);
    const unsubscribeB = c.runs.subscribe('exec_b', () => undefined);
    await until(() => FakeSocket.all.length === 1);
    const socket = latestSocket();
    expect(socket.url).toBe('ws://gw.test:9000/base/ws');
    socket.accept();
    expect(socket.sent).toEqual([{ op: 'auth', token: 'tok' }, { op: 'subscribe', runId: 'exec_a' }, { op: 'subscribe', runId: 'exec_b' }]);
    unsubscribeA();
    expect(socket.sent.at(-1)).toEqual({ op: 'unsubscribe', runId: 'exec_a' });
    unsubscribeB();
  });

  it('drops repeated seqs, and after a reconnect resubscribes with since = the last delivered seq', async () => {
    const c = make();
    const seen: number[] = [];
    const unsubscribe = c.runs.subscribe('exec_a', (r) => seen.push(r.seq));
    await until(() => FakeSocket.all.length === 1);
    const first = latestSocket();
    first.accept();
    first.push({ type: 'subscribed', runId: 'exec_a' });
    first.push({ type: 'run', run: run('exec_a', 1, 'queued') });
    first.push({ type: 'run', run: run('exec_a', 1, 'queued') });
    first.push({ type: 'run', run: run('exec_a', 2, 'running') });
    first.drop();
    await until(() => FakeSocket.all.length === 2);
    const second = latestSocket();
    second.accept();
    expect(second.sent).toEqual([{ op: 'subscribe', runId: 'exec_a', since: 2 }]);
    second.push({ type: 'run', run: run('exec_a', 2, 'running') });
    second.push({ type: 'run', run: run('exec_a', 3, 'success') });
    expect(seen).toEqual([1, 2, 3]);
    // Final: the gateway's slot is released.
    expect(second.sent.at(-1)).toEqual({ op: 'unsubscribe', runId: 'exec_a' });
    unsubscribe();
  });

  it('resolves a wait on the final state and rejects another with NotFoundError on not_found', async () => {
    const c = make();
    const waiting = c.runs.waitForCompletion('exec_a', { timeout: 5_000 });
    const unknown = c.runs.waitForCompletion('exec_zzz', { timeout: 5_000 }).catch((e: unknown) => e);
    await until(() => FakeSocket.all.length === 1);
    const socket = latestSocket();
    socket.accept();
    socket.push({ type: 'error', code: 'not_found', message: 'run exec_zzz does not exist', runId: 'exec_zzz' });
    socket.push({ type: 'run', run: run('exec_a', 4, 'failed') });
    expect((await waiting).status).toBe('failed');
    expect(await unknown).toBeInstanceOf(NotFoundError);
  });

  it('gives limit_exceeded to the subscriber as RateLimitError, and retries a subscribe after unavailable', async () => {
    const c = make();
    const errors: DocloError[] = [];
    c.runs.subscribe('exec_full', () => undefined, { onError: (e) => errors.push(e) });
    const unsubscribe = c.runs.subscribe('exec_busy', () => undefined);
    await until(() => FakeSocket.all.length === 1);
    const socket = latestSocket();
    socket.accept();
    socket.push({ type: 'error', code: 'limit_exceeded', message: 'too many', runId: 'exec_full' });
    expect(errors[0]).toBeInstanceOf(RateLimitError);
    socket.push({ type: 'error', code: 'unavailable', message: 'later', runId: 'exec_busy' });
    const subscribesBefore = socket.sent.filter((f) => f.runId === 'exec_busy' && f.op === 'subscribe').length;
    await until(() => socket.sent.filter((f) => f.runId === 'exec_busy' && f.op === 'subscribe').length > subscribesBefore, 5_000);
    unsubscribe();
  });

  it('rejects pending waits when the client closes', async () => {
    const c = make();
    const waiting = c.runs.waitForCompletion('exec_a', { timeout: 5_000 }).catch((e: unknown) => e);
    c.close();
    expect(await waiting).toMatchObject({ name: 'ClientClosedError' });
  });
});

describe('the client socket: many runs on a new socket', () => {
  it('resubscribes in runIds batches of at most 100, each with the lowest since of its batch', async () => {
    FakeSocket.all = [];
    const client = createClient({
      url: 'http://gw.test:9000',
      token: 't',
      WebSocket: FakeSocket as unknown as WebSocketConstructor,
      fetch: () => new Promise<Response>(() => undefined),
      reconnect: { initialDelayMs: 5, maxDelayMs: 20 },
      fallbackAfterMs: 60_000,
    });
    try {
      const ids = Array.from({ length: 150 }, (_, i) => `exec_${i}`);
      const seen = new Map<string, number[]>();
      for (const id of ids) client.runs.subscribe(id, (r) => seen.set(id, [...(seen.get(id) ?? []), r.seq]));
      await until(() => FakeSocket.all.length === 1);
      const first = latestSocket();
      first.accept();
      ids.forEach((id, i) => first.push({ type: 'run', run: run(id, 1 + (i % 3), 'queued') }));
      first.drop();
      await until(() => FakeSocket.all.length === 2);
      const second = latestSocket();
      second.accept();
      expect(second.sent[0]).toEqual({ op: 'auth', token: 't' });
      const frames = second.sent.slice(1);
      expect(frames).toHaveLength(2);
      expect((frames[0]!.runIds as string[]).length).toBe(100);
      expect(frames[0]!.since).toBe(1);
      expect((frames[1]!.runIds as string[]).length).toBe(50);
      expect(frames[1]!.since).toBe(3);
      // Snapshots the low since brings again are dropped by seq.
      ids.forEach((id, i) => second.push({ type: 'run', run: run(id, 1 + (i % 3), 'queued') }));
      expect([...seen.values()].every((seqs) => seqs.length === 1)).toBe(true);
    } finally {
      client.close();
    }
  });
});
