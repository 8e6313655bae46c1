import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { REDIS_HOST, answersPing } from './redis.js';
import { captureProcess } from './test-logs.js';

/**
 * Whether the `redis-server` binary can be run. Under CI=true a missing one throws, so suites
 * that start their own server fail instead of being skipped (the same rule as redisAvailable).
 */
export function redisServerInstalled(): boolean {
  const probe = spawnSync('redis-server', ['--version'], { stdio: 'ignore' });
  const installed = probe.error === undefined && probe.status === 0;
  if (!installed && process.env.CI === 'true') {
    throw new Error('redis-server is not installed, and under CI=true its tests must run (.ci/run installs it)');
  }
  return installed;
}

/** How a private server keeps its data: an fsync'd append-only file, or nothing (as this machine's and CI's Redis). */
export type PrivateRedisPersistence = 'aof' | 'none';

/**
 * A `redis-server` of the test's own on `port`. By default it persists to `dir` with an fsync'd
 * append-only file, so it can be stopped and started again with its data; with `persistence:
 * 'none'` it keeps nothing and every start is empty. Never the shared server on 6379.
 */
export class PrivateRedis {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  /** Everything the server printed, for failure messages. */
  readonly output: string[] = [];

  constructor(
    readonly port: number,
    readonly dir: string,
    readonly persistence: PrivateRedisPersistence = 'aof',
  ) {}

  /** `redis://127.0.0.1:<port>/<db>`. */
  url(db = 0): string {
    return `redis://${REDIS_HOST}:${this.port}/${db}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the server (reloading the append-only file if it keeps one) and waits for PING. */
  async start(timeoutMs = 10_000): Promise<void> {
    if (this.running) throw new Error('redis-server already running');
    const keeping = this.persistence === 'aof' ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', REDIS_HOST, '--dir', this.dir, ...keeping, '--save', ''], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    captureProcess(child, `redis-server :${this.port}`);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.stdout?.on('data', (chunk: Buffer) => this.output.push(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => this.output.push(chunk.toString()));
    const deadline = Date.now() + timeoutMs;
    while (!(await answersPing(this.port, 500))) {
      if (!this.running || Date.now() > deadline) {
        await this.stop('SIGKILL');
        throw new Error(`redis-server on ${this.port} did not come up: ${this.output.join('').slice(-2000)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Stops the server with `signal` (SIGTERM: a clean shutdown that flushes the AOF) and waits for its exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.running) this.child?.kill(signal);
    await this.exited;
  }
}
