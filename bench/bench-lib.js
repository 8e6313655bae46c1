// Shared helpers of the benchmark scripts: where the build is, statistics, signed webhook bodies,
// a keep-alive HTTP poster and forked workers that talk over IPC.
/* global process, Buffer, setTimeout, clearTimeout, setInterval, clearInterval, URL, performance */ // Node scripts; the lint config has no Node globals for plain JS
import { fork } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { WebSocket } from 'ws';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(BENCH_DIR, '..');

/**
 * The compiled gateway: `dist/` by default; RUNGATE_BENCH_DIST points elsewhere (the test suite's
 * private build), so the smoke test never depends on someone's dist/ being current.
 */
export const DIST = process.env.RUNGATE_BENCH_DIST ? resolve(process.env.RUNGATE_BENCH_DIST) : join(ROOT, 'dist');

export function assertBuilt() {
  if (!existsSync(join(DIST, 'gateway.js'))) {
    throw new Error(`no build at ${DIST}: run \`npm run build\` first (or set RUNGATE_BENCH_DIST)`);
  }
}

/** Imports a module of the build, e.g. `fromDist('gateway.js')`. */
export function fromDist(path) {
  return import(pathToFileURL(join(DIST, path)).href);
}

export const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/** The p-th percentile (nearest rank) of numbers. */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function median(values) {
  const finite = values.filter((v) => Number.isFinite(v));
  return finite.length === 0 ? NaN : percentile(finite, 50);
}

export function summarize(values) {
  // A loop, not Math.max(...values): spreading 200,000 latencies overflows the call stack.
  let max = NaN;
  for (const value of values) if (!(value <= max)) max = value;
  return { count: values.length, p50: percentile(values, 50), p99: percentile(values, 99), max };
}

/** Rounds for tables: 3 significant digits, plain notation. */
export function fmt(value, digits = 3) {
  if (value === undefined || value === null || Number.isNaN(value)) return 'n/a';
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return String(Number(value.toPrecision(digits)));
}

export function ratio(a, b) {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN;
}

/** A webhook body as Doclo sends it, for a run `id` in `status`. */
export function webhookBody(id, status, flowId = 'bench-flow') {
  const final = status === 'success' || status === 'failed';
  return JSON.stringify({
    event: final ? `execution.${status === 'success' ? 'completed' : 'failed'}` : 'run.running',
    timestamp: new Date().toISOString(),
    data: {
      id,
      flowId,
      status,
      createdAt: '2026-01-01T00:00:00.000Z',
      ...(final ? { completedAt: new Date().toISOString(), duration: 3000, output: { total: 42.5, currency: 'EUR', lines: 3 } } : { progress: { step: 'extract', percentage: 50 } }),
      metadata: { source: 'bench' },
    },
  });
}

export function sign(secret, body) {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * `count` signed bodies for distinct changes: ids `${prefix}0…` first `running`, then `success`,
 * so every request of a run through the pool is a real write, not a duplicate.
 */
export function signedPool(secret, count, prefix) {
  const ids = Math.ceil(count / 2);
  const pool = [];
  for (const status of ['running', 'success']) {
    for (let i = 0; i < ids && pool.length < count; i++) {
      const body = webhookBody(`${prefix}${i}`, status);
      pool.push({ body, signature: sign(secret, body) });
    }
  }
  return pool;
}

/** A keep-alive HTTP poster (node:http, lighter than fetch at these rates). */
export function createPoster(maxSockets = 64) {
  const agent = new Agent({ keepAlive: true, maxSockets });
  return {
    post(url, body, headers = {}) {
      const target = new URL(url);
      return new Promise((done, fail) => {
        const req = request(
          { agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } },
          (res) => {
            const chunks = [];
            res.on('data', (chunk) => chunks.push(chunk));
            res.on('end', () => done({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
            res.on('error', fail);
          },
        );
        req.on('error', fail);
        req.end(body);
      });
    },
    close() {
      agent.destroy();
    },
  };
}

/** Runs `task(i)` for i in 0..count-1 with at most `concurrency` in flight. */
export async function pool(count, concurrency, task) {
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) await task(next++);
  });
  await Promise.all(lanes);
}

/**
 * The `node` flags that `npm start` runs the gateway with (package.json's start script; the
 * image's NODE_OPTIONS mirror them), so that the soak's gateway runs as a started one does.
 */
export function startNodeFlags() {
  const { scripts } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const words = scripts.start.split(/\s+/);
  if (words[0] !== 'node') throw new Error(`package.json's start script does not begin with node: ${scripts.start}`);
  const flags = [];
  for (const word of words.slice(1)) {
    if (!word.startsWith('--')) break;
    flags.push(word);
  }
  return flags;
}

/**
 * A forked worker (bench/<file>) driven by request/answer messages: `ask(message)` sends
 * `{...message, seq}` and resolves with the worker's answer of the same seq. The worker announces
 * itself with `{type: 'ready', ...}`, which `start()` resolves with.
 */
export function startWorker(file, spec, { execArgv = [], timeoutMs = 60_000, env } = {}) {
  const child = fork(join(BENCH_DIR, file), [JSON.stringify(spec)], {
    execArgv,
    // Answers come over IPC; stdout carries only the gateway's obligatory `listening` line.
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    ...(env ? { env: { ...process.env, ...env } } : {}),
  });
  const pending = new Map();
  let seq = 0;
  let exited = false;
  let onReady;
  const ready = new Promise((done, fail) => {
    onReady = { done, fail };
  });
  const readyTimer = setTimeout(() => onReady.fail(new Error(`${file} did not start within ${timeoutMs} ms`)), timeoutMs);
  readyTimer.unref();
  child.on('message', (message) => {
    if (message.type === 'ready') {
      clearTimeout(readyTimer);
      onReady.done(message);
      return;
    }
    const waiter = pending.get(message.seq);
    if (!waiter) return;
    pending.delete(message.seq);
    clearTimeout(waiter.timer);
    if (message.type === 'error') waiter.fail(new Error(`${file}: ${message.message}`));
    else waiter.done(message);
  });
  child.on('exit', (code, signal) => {
    exited = true;
    clearTimeout(readyTimer);
    const error = new Error(`${file} exited (code ${code}, signal ${signal})`);
    onReady.fail(error);
    for (const waiter of pending.values()) {
      clearTimeout(waiter.timer);
      waiter.fail(error);
    }
    pending.clear();
  });
  return {
    child,
    ready,
    ask(message, askTimeoutMs = timeoutMs) {
      if (exited) return Promise.reject(new Error(`${file} is not running`));
      const id = ++seq;
      return new Promise((done, fail) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          fail(new Error(`${file} did not answer ${message.type} within ${askTimeoutMs} ms`));
        }, askTimeoutMs);
        timer.unref();
        pending.set(id, { done, fail, timer });
        child.send({ ...message, seq: id });
      });
    },
    /** Asks it to stop; kills it if it has not exited within 10 s. */
    async stop() {
      if (exited) return;
      const gone = new Promise((done) => child.once('exit', done));
      child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      timer.unref();
      await gone;
      clearTimeout(timer);
    },
  };
}

/** Worker side: answers parent messages with `handlers[type](message)`'s result. */
export function serveParent(handlers, onStop) {
  process.on('message', (message) => {
    if (message.type === 'stop') {
      void Promise.resolve(onStop()).finally(() => process.exit(0));
      return;
    }
    const handler = handlers[message.type];
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`unknown message ${message.type}`);
        return handler(message);
      })
      .then(
        (answer) => process.send({ ...answer, type: message.type, seq: message.seq }),
        (error) => process.send({ type: 'error', seq: message.seq, message: error instanceof Error ? error.stack ?? error.message : String(error) }),
      );
  });
  // The parent went away: nothing left to measure for.
  process.on('disconnect', () => process.exit(0));
}

/** Memory after collecting garbage (needs --expose-gc to be exact). */
export async function settledMemory() {
  for (let i = 0; i < 4; i++) {
    globalThis.gc?.();
    await sleep(50);
  }
  const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
  return { rss, heapUsed, external, arrayBuffers };
}

export const now = () => performance.now();

/**
 * The longest event-loop stall since the last `takeMaxMs()`: how late a 10-ms interval timer
 * fired. (perf_hooks' monitorEventLoopDelay reported 28 ms for a 200-ms busy loop here on Node
 * 20, so the lateness is measured directly.)
 */
export function startStallMonitor(periodMs = 10) {
  let last = performance.now();
  let max = 0;
  const timer = setInterval(() => {
    const at = performance.now();
    max = Math.max(max, at - last - periodMs);
    last = at;
  }, periodMs);
  timer.unref();
  return {
    takeMaxMs() {
      const taken = Math.max(max, performance.now() - last - periodMs, 0);
      max = 0;
      return taken;
    },
    stop: () => clearInterval(timer),
  };
}

/**
 * The garbage collector's pauses since the last take: the longest (and its kind) and their sum,
 * so that a long event-loop stall can be told apart from a collection.
 */
export function startGcMonitor() {
  const KINDS = { 1: 'scavenge', 2: 'mark-compact', 4: 'incremental', 8: 'weak callbacks' };
  let longest = { ms: 0, kind: 'none' };
  let totalMs = 0;
  let counts = {};
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      totalMs += entry.duration;
      const kind = KINDS[entry.detail?.kind] ?? String(entry.detail?.kind);
      counts[kind] = (counts[kind] ?? 0) + 1;
      if (entry.duration > longest.ms) longest = { ms: entry.duration, kind };
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return {
    /** Since the last take: the longest pause and its kind, all pauses' total, pauses by kind. */
    take() {
      const taken = { longestMs: longest.ms, longestKind: longest.kind, totalMs, counts };
      longest = { ms: 0, kind: 'none' };
      totalMs = 0;
      counts = {};
      return taken;
    },
    stop: () => observer.disconnect(),
  };
}

/**
 * A WebSocket to `wsUrl` that sends `subscribe` once open and resolves when the gateway answers
 * `subscribed` (at once when `subscribe` is null); every later frame goes to `onFrame`.
 */
export function openSubscribed(wsUrl, subscribe, onFrame) {
  return new Promise((done, fail) => {
    const socket = new WebSocket(wsUrl, { perMessageDeflate: false });
    let confirmed = !subscribe;
    socket.once('error', fail);
    socket.on('open', () => {
      if (subscribe) socket.send(JSON.stringify(subscribe));
      else done(socket);
    });
    socket.on('message', (data) => {
      if (!confirmed) {
        if (data.includes('"subscribed"')) {
          confirmed = true;
          done(socket);
        }
        return;
      }
      onFrame(data);
    });
  });
}
