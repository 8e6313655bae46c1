// Two figures of the drop-in work (issue "A true drop-in for Doclo's API"):
//  1. Doclo's 429 → the caller's 429: how long the gateway takes to answer a start that meets a
//     rate-limit pause longer than --start-max-wait-ms (it used to hold it for the whole window).
//  2. Upstream GETs per run with --progress-poll-ms on: no watcher, one watcher, ten watchers of
//     the same runs (WebSocket and SSE), side by side on the same simulated runs.
//
//   npm run build && node bench/drop-in.js [repetitions=20] [runs=20] [progressMs=1000]
//
// Plain JS over dist/. Everything runs in this process on loopback; every loop is bounded.
/* global process, Buffer, fetch, console, performance */ // a Node script; the lint config has no Node globals for plain JS
import { createServer, request } from 'node:http';
import { pino } from 'pino';
import WebSocket from 'ws';
import { loadServeConfig } from '../dist/config/serve-config.js';
import { startGateway } from '../dist/gateway.js';
import { createSimulator } from '../dist/simulator/index.js';
import { percentile } from './bench-lib.js';

const REPETITIONS = Number(process.argv[2] ?? 20);
const RUNS = Number(process.argv[3] ?? 20);
const PROGRESS_MS = Number(process.argv[4] ?? 1000);
const FINAL = new Set(['success', 'failed', 'cancelled']);
const BODY = JSON.stringify({ input: { document: { base64: Buffer.from('%PDF-1.4 bench').toString('base64'), mimeType: 'application/pdf' } } });
// Silent, also for the 'listening' line that is written whatever the level says.
const silent = pino({ level: 'silent' }, { write() {} });

function gatewayOn(upstreamUrl, webhookSecret, args = []) {
  const config = loadServeConfig(['--port', '0', '--store', 'memory', '--upstream-url', upstreamUrl, '--webhook-secret', webhookSecret, '--log-level', 'silent', ...args], {});
  return startGateway({ ...config, simulate: false }, silent);
}

const post = (url, body = BODY) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

/** A pass-through HTTP proxy in front of the simulator that notes when a 429 leaves the simulator. */
async function timingProxy(target) {
  const seen = [];
  const server = createServer((req, res) => {
    const outgoing = request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      if (answer.statusCode === 429) seen.push(performance.now());
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    req.pipe(outgoing);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, seen, close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); }) };
}

async function rateLimitFigure() {
  const gaps = [];
  const totals = [];
  for (let i = 0; i < REPETITIONS; i++) {
    const sim = await createSimulator({ runMs: 30_000, rateLimit: 3, seed: i + 1 });
    const proxy = await timingProxy(sim.url);
    const gateway = await gatewayOn(`${proxy.url}/api/v1`, sim.webhookSecret);
    try {
      // Another client of the same account spends the window; the gateway cannot foresee the 429.
      for (let k = 0; k < 3; k++) await post(`${sim.url}/api/v1/flows/other/run`);
      const sentAt = performance.now();
      const answer = await post(`${gateway.url}/api/v1/flows/limited/run`);
      const answeredAt = performance.now();
      await answer.text();
      if (answer.status !== 429 || proxy.seen.length !== 1) throw new Error(`expected one 429, got ${answer.status} and ${proxy.seen.length}`);
      gaps.push(answeredAt - proxy.seen[0]);
      totals.push(answeredAt - sentAt);
    } finally {
      await gateway.close();
      await proxy.close();
      await sim.close();
    }
  }
  return { gaps, totals };
}

/** Opens `count` watchers of `ids` (alternating WebSocket and SSE), resolving once each saw every final state. */
function watch(gatewayUrl, ids, count) {
  const closers = [];
  const done = [];
  for (let w = 0; w < count; w++) {
    if (w % 2 === 0) {
      const socket = new WebSocket(`${gatewayUrl.replace('http', 'ws')}/ws`);
      closers.push(() => socket.close());
      done.push(new Promise((resolve) => {
        const finals = new Set();
        socket.on('open', () => socket.send(JSON.stringify({ op: 'subscribe', runIds: ids })));
        socket.on('message', (/** @type {Buffer} */ data) => {
          const message = JSON.parse(data.toString('utf8'));
          if (message.type === 'run' && FINAL.has(message.run.status)) finals.add(message.run.id);
          if (finals.size === ids.length) resolve();
        });
      }));
    } else {
      done.push(Promise.all(ids.map(async (id) => {
        const controller = new AbortController();
        closers.push(() => controller.abort());
        const response = await fetch(`${gatewayUrl}/api/v1/runs/${id}/events`, { signal: controller.signal });
        await response.text(); // a run stream ends after the final state
      })));
    }
  }
  return { done: Promise.all(done), close: () => closers.forEach((close) => close()) };
}

async function progressFigure(watchers) {
  const sim = await createSimulator({ runMs: 3000, failRate: 0, seed: 77 });
  const gateway = await gatewayOn(`${sim.url}/api/v1`, sim.webhookSecret, ['--progress-poll-ms', String(PROGRESS_MS)]);
  try {
    const ids = [];
    for (let i = 0; i < RUNS; i++) ids.push((await (await post(`${gateway.url}/api/v1/flows/progress/run`)).json()).id);
    if (watchers === 0) {
      await Promise.all(ids.map((id) => fetch(`${gateway.url}/api/v1/runs/${id}`, { headers: { prefer: 'wait=30' } }).then((r) => r.text())));
    } else {
      const watching = watch(gateway.url, ids, watchers);
      await watching.done;
      watching.close();
    }
    const runs = await Promise.all(ids.map(async (id) => (await fetch(`${gateway.url}/api/v1/runs/${id}`)).json()));
    const meanDurationMs = runs.reduce((sum, run) => sum + run.duration, 0) / runs.length;
    return { getsPerRun: sim.stats().requests.get / RUNS, meanDurationMs };
  } finally {
    await gateway.close();
    await sim.close();
  }
}

const { gaps, totals } = await rateLimitFigure();
const f = (n) => n.toFixed(1);
console.log(`Doclo's 429 (Retry-After ~60 s) on a start, ${REPETITIONS} repetitions, node ${process.version}`);
console.log(`  Doclo's 429 leaves the simulator → the caller has its 429: median ${f(percentile(gaps, 50))} ms, p99 ${f(percentile(gaps, 99))} ms, max ${f(Math.max(...gaps))} ms`);
console.log(`  the caller's whole start (sent → 429 answered):          median ${f(percentile(totals, 50))} ms, p99 ${f(percentile(totals, 99))} ms`);
console.log('');
console.log(`Upstream GET /runs/:id per run, ${RUNS} runs of 3 s ± 50 %, webhooks arriving, --progress-poll-ms ${PROGRESS_MS}`);
console.log(`${'watchers of the same runs'.padEnd(44)} ${'GETs per run'.padStart(12)} ${'mean run ms'.padStart(12)}`);
for (const watchers of [0, 1, 10]) {
  const { getsPerRun, meanDurationMs } = await progressFigure(watchers);
  const label = watchers === 0 ? 'none (REST long-poll only)' : watchers === 1 ? 'one (WebSocket)' : 'ten (5 WebSocket + 5 SSE)';
  console.log(`${label.padEnd(44)} ${getsPerRun.toFixed(2).padStart(12)} ${meanDurationMs.toFixed(0).padStart(12)}`);
}
