import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { expect, inject } from 'vitest';
import { WebSocket } from 'ws';
import type { Run } from '../../src/runs/run.js';
import { captureProcess } from './test-logs.js';
import { buildPrivately } from './private-build.js';

const ROOT = join(import.meta.dirname, '..', '..');

/**
 * A private build of the CLI inside node_modules/.cache, so neither dist/ nor other engineers'
 * builds are touched; packages still resolve from the repository's node_modules.
 */
export interface CliBuild {
  cli: string;
  remove(): void;
}

/**
 * The CLI to spawn: the run-wide build a vitest globalSetup provides as `rungateBuildDir` when
 * there is one, else a fresh private build (see buildPrivately).
 */
export function buildCli(label: string): CliBuild {
  // Looked up by name, so this works with and without that globalSetup.
  const shared = (inject as (key: string) => unknown)('rungateBuildDir');
  if (typeof shared === 'string' && existsSync(join(shared, 'cli.js'))) return { cli: join(shared, 'cli.js'), remove: () => undefined };
  const outDir = buildPrivately(label);
  return { cli: join(outDir, 'cli.js'), remove: () => rmSync(outDir, { recursive: true, force: true }) };
}

/** A spawned `rungate serve` and its parsed log lines. */
export interface SpawnedGateway {
  child: ChildProcess;
  url: string;
  wsUrl: string;
  lines: Array<Record<string, unknown>>;
  /** When the process was spawned (performance.now()). */
  spawnedAt: number;
  /** When each log line arrived (performance.now()), by index into `lines`. */
  lineTimes: number[];
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Spawns `rungate serve` with `args` and resolves once it logs its `listening` line. */
export async function spawnGateway(cli: string, args: string[]): Promise<SpawnedGateway> {
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, [cli, 'serve', '--log-level', 'info', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  captureProcess(child, 'rungate serve');
  const lines: Array<Record<string, unknown>> = [];
  const lineTimes: number[] = [];
  const stderr: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line; stderr: ${stderr.join('')}`)), 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited ${String(code)} before listening: ${stderr.join('')} ${JSON.stringify(lines.slice(-5))}`));
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      lines.push(parsed);
      lineTimes.push(performance.now());
      if (parsed.msg === 'listening') {
        clearTimeout(timer);
        resolve(parsed.url as string);
      }
    });
  }).catch(async (error: unknown) => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    throw error;
  });
  return {
    child,
    url,
    wsUrl: `${url.replace('http', 'ws')}/ws`,
    lines,
    lineTimes,
    spawnedAt,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** A free TCP port on 127.0.0.1 (for a gateway that must come back on the same port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A WebSocket client that records the runs it is sent (and when). */
export class RunWatcher {
  readonly runs: Array<{ run: Run; at: number }> = [];
  readonly other: Array<Record<string, unknown>> = [];
  private readonly closed: Promise<void>;

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString()) as { type: string; run?: Run } & Record<string, unknown>;
      if (message.type === 'run' && message.run) this.runs.push({ run: message.run, at: performance.now() });
      else this.other.push(message);
    });
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static async connect(url: string): Promise<RunWatcher> {
    const socket = new WebSocket(url);
    const watcher = new RunWatcher(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return watcher;
  }

  send(message: unknown): void {
    this.socket.send(JSON.stringify(message));
  }

  /** The final states received for `runId` (must end up exactly one). */
  finals(runId: string): Run[] {
    return this.runs.filter(({ run }) => run.id === runId && ['success', 'failed', 'cancelled'].includes(run.status)).map(({ run }) => run);
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.close();
    await this.closed;
  }
}

/** Polls `check` every 20 ms until it holds or `timeoutMs` passes. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A start request body with a small PDF-looking document. */
export function documentBody(): Record<string, unknown> {
  return { input: { document: { base64: Buffer.from('%PDF-1.4 cluster').toString('base64'), mimeType: 'application/pdf' } } };
}

/** JSON over HTTP: status and parsed body. */
export async function http(url: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown> };
}

/**
 * On every watcher, each run's frames end in exactly one final state, the one upstream has
 * (`finalStatus`), with `seq` growing from frame to frame.
 */
export function expectEachFinalOnce(watchers: RunWatcher[], finalStatus: ReadonlyMap<string, string>): void {
  const FINAL = new Set(['success', 'failed', 'cancelled']);
  for (const [index, watcher] of watchers.entries()) {
    for (const [id, status] of finalStatus) {
      const frames: Run[] = watcher.runs.filter(({ run }) => run.id === id).map(({ run }) => run);
      const finals = frames.filter((run) => FINAL.has(run.status));
      expect(finals, `final frames of ${id} on instance ${index}`).toHaveLength(1);
      expect(finals[0]!.status, `final status of ${id} on instance ${index}`).toBe(status);
      expect(frames[frames.length - 1], `the final frame of ${id} is its last one on instance ${index}`).toBe(finals[0]);
      const seqs = frames.map((run) => run.seq);
      for (let i = 1; i < seqs.length; i++) expect(seqs[i]!, `seq of ${id} on instance ${index}: ${seqs.join(',')}`).toBeGreaterThan(seqs[i - 1]!);
    }
  }
}

