import { WebSocket as NodeWebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DocloError,
  NetworkError,
  NotFoundError,
  TimeoutError,
  createClient,
  type FetchLike,
  type Run,
  type RungateClient,
  type WebSocketConstructor,
} from '../../src/client/index.js';
import { eventually, getJson, metricValue, startStack, type Stack } from '../support/gateway-harness.js';
import { freePort } from '../support/spawned-gateway.js';

const DOCUMENT = { base64: Buffer.from('%PDF-1.4 client test').toString('base64'), filename: 'a.pdf', mimeType: 'application/pdf' };

/** A `ws` WebSocket that counts how many sockets the client opened. */
function countingWebSocket(): { Ctor: WebSocketConstructor; opened: () => number } {
  let opened = 0;
  class Counting extends NodeWebSocket {
    constructor(url: string) {
      super(url);
      opened += 1;
    }
  }
  return { Ctor: Counting, opened: () => opened };
}

/** A WebSocket that never connects, as behind a proxy that refuses upgrades. */
class BlockedWebSocket {
  static created = 0;
  readonly readyState = 3;
  private readonly listeners = new Map<string, Array<(event: unknown) => void>>();
  constructor(_url: string) {
    BlockedWebSocket.created += 1;
    setTimeout(() => {
      for (const type of ['error', 'close']) for (const listener of this.listeners.get(type) ?? []) listener({});
    }, 5);
  }
  addEventListener(type: string, listener: (event: unknown) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  send(): void {
    throw new Error('not open');
  }
  close(): void {}
}

async function gatewayMetric(stack: Stack, name: string): Promise<number> {
  const response = await fetch(`${stack.url}/metrics`);
  return metricValue(await response.text(), name);
}

describe('rungate client against a live gateway', () => {
  let stack: Stack;
  let client: RungateClient;
  const sockets = countingWebSocket();

  beforeAll(async () => {
    stack = await startStack({ sim: { runMs: 300, failRate: 0, seed: 7 } });
    // A long idle timeout: the socket must not close between tests on a slow machine, so that
    // the one-socket assertion below measures sharing, not timing.
    client = createClient({ url: stack.url, WebSocket: sockets.Ctor, idleTimeoutMs: 600_000 });
  });
  afterAll(async () => {
    client?.close();
    await stack?.close();
  });

  it('starts a run and waits for it to succeed', async () => {
    const started = await client.flows.run<{ total: number }>('invoice-extractor', { input: { document: DOCUMENT }, metadata: { test: 'wait' } });
    expect(started.status).toBe('queued');
    expect(started.metadata).toEqual({ test: 'wait' });
    const done = await client.runs.waitForCompletion<{ total: number }>(started.id, { timeout: 20_000 });
    expect(done.id).toBe(started.id);
    expect(done.status).toBe('success');
    expect(done.output).toBeDefined();
    expect(done.seq).toBeGreaterThan(started.seq);
    // A finished run resolves at once on a later wait.
    expect((await client.runs.waitForCompletion(started.id, { timeout: 5_000 })).status).toBe('success');
    expect((await client.runs.get(started.id)).status).toBe('success');
  });

  it('rejects with TimeoutError while the run goes on, and a second wait resolves', async () => {
    const started = await client.flows.run('invoice-extractor', { input: { document: DOCUMENT } });
    const error = await client.runs.waitForCompletion(started.id, { timeout: 20 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).name).toBe('TimeoutError');
    expect((error as TimeoutError).code).toBe('TIMEOUT');
    const done = await client.runs.waitForCompletion(started.id, { timeout: 20_000 });
    expect(done.status).toBe('success');
  });

  it('delivers every change to a subscriber with a strictly growing seq', async () => {
    const started = await client.flows.run('invoice-extractor', { input: { document: DOCUMENT } });
    const seen: Run[] = [];
    const unsubscribe = client.runs.subscribe(started.id, (run) => seen.push(run));
    try {
      await eventually(() => seen.some((run) => run.status === 'success'), 20_000);
      expect(seen[0]?.status).toBe('queued');
      expect(seen.at(-1)?.status).toBe('success');
      for (let i = 1; i < seen.length; i += 1) expect(seen[i]!.seq).toBeGreaterThan(seen[i - 1]!.seq);
      expect(seen.filter((run) => run.status === 'success')).toHaveLength(1);
    } finally {
      unsubscribe();
    }
  });

  it('cancels a run: the wait resolves cancelled, a second cancel is a 409 DocloError', async () => {
    const started = await client.flows.run('invoice-extractor', { input: { document: DOCUMENT } });
    const waiting = client.runs.waitForCompletion(started.id, { timeout: 20_000 });
    const cancelled = await client.runs.cancel(started.id);
    expect(cancelled.status).toBe('cancelled');
    expect((await waiting).status).toBe('cancelled');
    const again = await client.runs.cancel(started.id).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(DocloError);
    expect((again as DocloError).statusCode).toBe(409);
    expect((again as DocloError).code).toBe('ALREADY_CANCELLED');
  });

  it('rejects with NotFoundError for a run nobody knows (REST and socket)', async () => {
    const viaGet = await client.runs.get('exec_does_not_exist').catch((e: unknown) => e);
    expect(viaGet).toBeInstanceOf(NotFoundError);
    expect((viaGet as NotFoundError).code).toBe('EXECUTION_NOT_FOUND');
    const viaWait = await client.runs.waitForCompletion('exec_does_not_exist_either', { timeout: 10_000 }).catch((e: unknown) => e);
    expect(viaWait).toBeInstanceOf(NotFoundError);
  });

  it('runs a flow with wait: true and gets the finished run', async () => {
    const done = await client.flows.run('invoice-extractor', { input: { document: DOCUMENT }, wait: true, timeout: 20_000, idempotencyKey: 'client-test-wait-1' });
    expect(done.status).toBe('success');
  });

  it('serves 100 concurrent waits over one socket', async () => {
    const openedBefore = sockets.opened();
    const started = await Promise.all(Array.from({ length: 100 }, () => client.flows.run('invoice-extractor', { input: { document: DOCUMENT } })));
    const finished: string[] = [];
    const waiting = client.runs.waitForMany(
      started.map((run) => run.id),
      { timeout: 30_000, onComplete: (run) => finished.push(run.id) },
    );
    await eventually(async () => (await gatewayMetric(stack, 'rungate_ws_subscriptions')) > 0, 10_000);
    expect(await gatewayMetric(stack, 'rungate_ws_connections')).toBe(1);
    const runs = await waiting;
    expect(runs.map((run) => run.id)).toEqual(started.map((run) => run.id));
    expect(runs.every((run) => run.status === 'success')).toBe(true);
    expect(new Set(finished).size).toBe(100);
    // The socket opened for the first test is still the one in use.
    expect(sockets.opened()).toBe(openedBefore);
    expect(openedBefore).toBe(1);
  });
});

describe('rungate client: failed runs', () => {
  let stack: Stack;
  let client: RungateClient;

  beforeAll(async () => {
    stack = await startStack({ sim: { runMs: 200, failRate: 1, seed: 8 } });
    client = createClient({ url: stack.url });
  });
  afterAll(async () => {
    client?.close();
    await stack?.close();
  });

  it('resolves (does not throw) for a failed run, with its error', async () => {
    const started = await client.flows.run('invoice-extractor', { input: { document: DOCUMENT } });
    const done = await client.runs.waitForCompletion(started.id, { timeout: 20_000 });
    expect(done.status).toBe('failed');
    expect(done.error?.code).toEqual(expect.any(String));
  });
});

describe('rungate client: long-poll fallback with the WebSocket blocked', () => {
  let stack: Stack;
  let client: RungateClient;
  let fetches = 0;

  beforeAll(async () => {
    stack = await startStack({ sim: { runMs: 1_500, failRate: 0, seed: 9 } });
    const countingFetch: FetchLike = (input, init) => {
      if (input.includes('/api/v1/runs/')) fetches += 1;
      return fetch(input, init);
    };
    client = createClient({
      url: stack.url,
      WebSocket: BlockedWebSocket as unknown as WebSocketConstructor,
      fetch: countingFetch,
      fallbackAfterMs: 50,
      reconnect: { initialDelayMs: 100, maxDelayMs: 500 },
    });
  });
  afterAll(async () => {
    client?.close();
    await stack?.close();
  });

  it('resolves the wait by Prefer: wait long-polls that cost no upstream GET', async () => {
    const started = await client.flows.run('invoice-extractor', { input: { document: DOCUMENT } });
    const upstreamGetsBefore = stack.sim.stats().requests.get;
    const done = await client.runs.waitForCompletion(started.id, { timeout: 20_000 });
    expect(done.status).toBe('success');
    expect(BlockedWebSocket.created).toBeGreaterThan(0);
    // Held requests, not a poll loop: the run took ~0.75–2.25 s, answered by one or two GETs.
    expect(fetches).toBeGreaterThanOrEqual(1);
    expect(fetches).toBeLessThanOrEqual(3);
    expect(stack.sim.stats().requests.get).toBe(upstreamGetsBefore);
    const probe = await getJson(`${stack.url}/api/v1/runs/${started.id}`);
    expect(probe.body.status).toBe('success');
  });
});

describe('rungate client: a gateway that is down', () => {
  it('waitForCompletion rejects, when its time is up, with an error that says the gateway could not be reached', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    // Past the fallback's start (2 s), so that long-polls are refused as well as sockets.
    const client = createClient({ url, WebSocket: NodeWebSocket, reconnect: { initialDelayMs: 50, maxDelayMs: 200 } });
    try {
      const error = await client.runs.waitForCompletion('exec_down', { timeout: 3000 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NetworkError);
      expect((error as NetworkError).name).toBe('NetworkError');
      expect((error as Error).message).toMatch(new RegExp(`^Execution exec_down did not complete within 3000ms: cannot reach the gateway at ${url}: .*ECONNREFUSED`));
      // A plain read says the same, at once.
      await expect(client.runs.get('exec_down')).rejects.toThrow(`cannot reach the gateway at ${url}: connect ECONNREFUSED`);
    } finally {
      client.close();
    }
  });
});
