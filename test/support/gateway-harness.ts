import type { Logger } from 'pino';
import { afterEach } from 'vitest';
import { WebSocket } from 'ws';
import { loadServeConfig } from '../../src/config/serve-config.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { createSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';
import { isFinal, type Run } from '../../src/runs/run.js';
import { testLogger } from './test-logs.js';

/** A simulator and a gateway in front of it, both on port 0. */
export interface Stack {
  sim: Simulator;
  gateway: Gateway;
  url: string;
  wsUrl: string;
  close(): Promise<void>;
}

export interface StackOptions {
  sim?: SimulatorOptions;
  args?: string[];
  logger?: Logger;
}

/** Starts a simulator (options as given) and a memory-store gateway using it as upstream. */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const sim = await createSimulator({ seed: 42, logger: testLogger('simulator'), ...options.sim });
  let gateway: Gateway;
  try {
    const config = loadServeConfig(
      ['--port', '0', '--store', 'memory', '--upstream-url', `${sim.url}/api/v1`, '--webhook-secret', sim.webhookSecret, '--log-level', 'silent', ...(options.args ?? [])],
      {},
    );
    gateway = await startGateway({ ...config, simulate: false }, options.logger ?? testLogger('gateway'));
  } catch (error) {
    await sim.close();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    sim,
    gateway,
    url: gateway.url,
    wsUrl: `${gateway.url.replace('http', 'ws')}/ws`,
    // Idempotent: a test may close its stack itself, and the fixture closes it again after.
    close() {
      closing ??= gateway.close().then(() => sim.close());
      return closing;
    },
  };
}

/** What a test opened: its stack and its probes, closed after it by useStack. */
export interface StackFixture {
  /** The stack the current test started. */
  readonly stack: Stack;
  start(options?: StackOptions): Promise<Stack>;
  /** A WebSocket probe on the current stack, closed after the test. */
  probe(options?: { headers?: Record<string, string>; origin?: string }): Promise<WsProbe>;
  /** Closes `probe` after the test too. */
  track(probe: WsProbe): WsProbe;
}

/** Call once in a describe block: each test starts its stack through it and leaves the closing to it. */
export function useStack(): StackFixture {
  let current: Stack | undefined;
  const probes: WsProbe[] = [];
  afterEach(async () => {
    await Promise.all(probes.splice(0).map((p) => p.close()));
    await current?.close();
    current = undefined;
  });
  const fixture: StackFixture = {
    get stack() {
      if (!current) throw new Error('this test has not started a stack');
      return current;
    },
    async start(options) {
      current = await startStack(options);
      return current;
    },
    async probe(options) {
      return fixture.track(await WsProbe.connect(fixture.stack.wsUrl, options));
    },
    track(probe) {
      probes.push(probe);
      return probe;
    },
  };
  return fixture;
}

/** A message the gateway sent on /ws, with when it arrived. */
export interface Received {
  type: string;
  run?: Run;
  runId?: string;
  flowId?: string;
  code?: string;
  message?: string;
  /** performance.now() on arrival. */
  at: number;
  /**
   * Date.now() on arrival: the clock Doclo's (and the simulator's) timestamps are on.
   * `performance.timeOrigin + at` is not: timeOrigin is fixed when the process starts, and the
   * two were seen to part by 3 ms in 10 s (tens of ms over a process's life).
   */
  wallAt: number;
}

/** A test WebSocket client that records every message. */
export class WsProbe {
  /** Numbers roundTrip() markers, so each waits for its own answer. */
  private static roundTrips = 0;
  readonly messages: Received[] = [];
  closeCode: number | undefined;
  private readonly closed: Promise<void>;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data: Buffer) => {
      this.messages.push({ ...(JSON.parse(data.toString()) as Omit<Received, 'at' | 'wallAt'>), at: performance.now(), wallAt: Date.now() });
    });
    this.closed = new Promise((resolve) =>
      socket.on('close', (code) => {
        this.closeCode = code;
        resolve();
      }),
    );
  }

  static async connect(url: string, options: { headers?: Record<string, string>; origin?: string } = {}): Promise<WsProbe> {
    const socket = new WebSocket(url, options);
    const probe = new WsProbe(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return probe;
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  runs(runId?: string): Run[] {
    return this.messages.filter((m) => m.type === 'run' && (runId === undefined || m.run?.id === runId)).map((m) => m.run!);
  }

  /** Whether every one of `ids` was seen in a final state: one pass over the messages, not one per run. */
  sawFinal(ids: readonly string[]): boolean {
    const final = new Set(this.messages.filter((m) => m.type === 'run' && isFinal(m.run!.status)).map((m) => m.run!.id));
    return ids.every((id) => final.has(id));
  }

  /** Resolves with the first message (from index `from` on) that matches. */
  async waitFor(match: (message: Received) => boolean, timeoutMs = 10_000, from = 0): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.slice(from).find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no matching message within ${timeoutMs} ms; got ${JSON.stringify(this.messages.slice(-5))}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /**
   * Resolves once every frame the gateway wrote to this socket before reading this call's marker
   * has arrived: a subscribe to a flow no run uses, answered at once and in order. A barrier
   * for "nothing more is coming", when all that could send more (webhooks, requests) is done.
   */
  async roundTrip(timeoutMs = 10_000): Promise<void> {
    const flowId = `round-trip-${++WsProbe.roundTrips}`;
    const from = this.messages.length;
    this.send({ op: 'subscribe', flowId });
    await this.waitFor((m) => m.type === 'subscribed' && m.flowId === flowId, timeoutMs, from);
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.close();
    await this.closed;
  }

  waitClosed(): Promise<void> {
    return this.closed;
  }
}

/** A start request body with a small PDF-looking document. */
export function startBody(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { input: { document: { base64: Buffer.from('%PDF-1.4 test').toString('base64'), mimeType: 'application/pdf' } }, ...extra };
}

/** POSTs JSON and returns status and parsed body. */
export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
}

/** GETs JSON and returns status and parsed body. */
export async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(url, { headers });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
}

/** Polls `check` every 10 ms until it is true or `timeoutMs` passes. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The p-th percentile (0..100) of a list of numbers. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

/** The value of one metric sample in Prometheus text, summed over label sets that match. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-z_:]+)(\{[^}]*\})?\s+([-+\d.eE]+|NaN)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const labelText = match[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => labelText.includes(`${k}="${v}"`))) total += Number(match[3]);
  }
  return total;
}
