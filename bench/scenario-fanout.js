// Scenario 3, fan-out: N WebSocket subscribers (flowId "*") of rungate against a bare ws server
// broadcasting one frame to as many sockets. Server and clients in separate processes; the client
// process also sends the change, so the latency (POST sent → frame received, per socket) is read
// on one clock. Then a sustained stream of changes to the same sockets (messages/s), and for
// the goal case: 1,000 webhooks/s to a few subscribers, latency p50/p99, on rungate's memory and
// SQLite stores against the bare relay. And the same bursts to as many Server-Sent Events streams
// (GET /api/v1/events?flowId=*) of rungate, against the bare ws figure of the same repetition.
/* global process */ // a Node script; the lint config has no Node globals for plain JS
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, startWorker } from './bench-lib.js';

const SECRET = 'whsec_bench_fanout_0123456789abcdef';

// fanOut: bursts and the sustained stream to `--sockets` clients; paced: the 1,000/s stream.
const TARGETS = [
  { name: 'rungate', server: { kind: 'rungate', store: 'memory', secret: SECRET }, subscribe: { op: 'subscribe', flowId: '*' }, secret: SECRET, fanOut: true, paced: true },
  { name: 'rungate sqlite', server: { kind: 'rungate', store: 'sqlite', secret: SECRET }, subscribe: { op: 'subscribe', flowId: '*' }, secret: SECRET, fanOut: false, paced: true },
  { name: 'rungate sse', server: { kind: 'rungate', store: 'memory', secret: SECRET }, subscribe: null, sse: true, secret: SECRET, fanOut: true, paced: false },
  { name: 'bare ws', server: { kind: 'ws' }, subscribe: null, secret: null, fanOut: true, paced: true },
];

async function withClients(url, target, count, work) {
  const sseUrl = target.sse ? `${url}/api/v1/events?flowId=*` : undefined;
  const clients = startWorker('ws-client-worker.js', { wsUrl: `${url.replace('http', 'ws')}/ws`, count, subscribe: target.subscribe, postUrl: url, secret: target.secret, ...(sseUrl ? { sseUrl } : {}) }, { timeoutMs: 120_000 });
  try {
    await clients.ready;
    const connected = await clients.ask({ type: 'connect' }, 300_000);
    if (connected.connected !== count) throw new Error(`only ${connected.connected} of ${count} sockets connected`);
    return await work(clients, connected);
  } finally {
    await clients.stop();
  }
}

async function measureTarget(target, options, rep, profileArgs) {
  const dbPath = join(tmpdir(), `rungate-bench-fanout-${process.pid}-${rep}-${Date.now()}.db`);
  const spec = target.server.store === 'sqlite' ? { ...target.server, store: `sqlite:${dbPath}` } : target.server;
  const server = startWorker('server-worker.js', spec, { execArgv: profileArgs });
  try {
    const { url } = await server.ready;
    const result = { target: target.name, rep };
    if (target.fanOut) await withClients(url, target, options.sockets, async (clients, connected) => {
      result.connectMs = connected.ms;
      // Two unmeasured bursts warm the JIT on both sides.
      for (let i = 0; i < 2; i++) await clients.ask({ type: 'burst', id: `exec_warm_${rep}_${i}` });
      const bursts = [];
      for (let i = 0; i < options.bursts; i++) {
        const burst = await clients.ask({ type: 'burst', id: `exec_burst_${rep}_${i}` }, 60_000);
        if (burst.received !== burst.expected) throw new Error(`${target.name}: burst reached ${burst.received} of ${burst.expected} sockets`);
        bursts.push(burst);
      }
      result.bursts = bursts;
      result.burstP50Ms = median(bursts.map((b) => b.p50));
      result.burstP99Ms = median(bursts.map((b) => b.p99));
      if (!target.sse) result.stream = await clients.ask({ type: 'stream', durationMs: options.streamSeconds * 1000, concurrency: 4, prefix: `exec_stream_${rep}_` }, options.streamSeconds * 1000 + 120_000);
    });
    if (target.paced) await withClients(url, target, options.pacedSockets, async (clients) => {
      result.paced = await clients.ask({ type: 'paced', rate: options.pacedRate, durationMs: options.pacedSeconds * 1000, prefix: `exec_paced_${rep}_` }, options.pacedSeconds * 1000 + 60_000);
    });
    return result;
  } finally {
    await server.stop();
    for (const suffix of ['', '-wal', '-shm']) rmSync(dbPath + suffix, { force: true });
  }
}

export async function run(options, log) {
  const raw = [];
  for (let rep = 0; rep < options.reps; rep++) {
    for (const target of TARGETS) {
      const result = await measureTarget(target, options, rep, target.name.startsWith('rungate') ? options.profileArgs ?? [] : []);
      const parts = [`  fanout rep ${rep + 1}/${options.reps} ${target.name}:`];
      if (result.bursts) parts.push(`${options.sockets} ${target.sse ? 'streams' : 'sockets'}, burst p50 ${result.burstP50Ms.toFixed(1)} p99 ${result.burstP99Ms.toFixed(1)} ms;`);
      if (result.stream) parts.push(`stream ${Math.round(result.stream.messagesPerSec)} msg/s (${result.stream.received}/${result.stream.expected});`);
      if (result.paced) parts.push(`paced ${Math.round(result.paced.achievedRate)}/s p50 ${result.paced.p50.toFixed(2)} p99 ${result.paced.p99.toFixed(2)} ms`);
      log(parts.join(' '));
      raw.push(result);
    }
  }
  const med = (name, pick) => median(raw.filter((r) => r.target === name).map(pick));
  const perRepRatio = (pick, name = 'rungate') =>
    median(Array.from({ length: options.reps }, (_, rep) => {
      const mine = raw.find((r) => r.rep === rep && r.target === name);
      const base = raw.find((r) => r.rep === rep && r.target === 'bare ws');
      return mine && base ? pick(mine) / pick(base) : NaN;
    }));
  const p99 = { rungate: med('rungate', (r) => r.burstP99Ms), bare: med('bare ws', (r) => r.burstP99Ms), sse: med('rungate sse', (r) => r.burstP99Ms) };
  const p50 = { rungate: med('rungate', (r) => r.burstP50Ms), bare: med('bare ws', (r) => r.burstP50Ms), sse: med('rungate sse', (r) => r.burstP50Ms) };
  const stream = { rungate: med('rungate', (r) => r.stream.messagesPerSec), bare: med('bare ws', (r) => r.stream.messagesPerSec) };
  const pacedOf = (name) => ({ p50: med(name, (r) => r.paced.p50), p99: med(name, (r) => r.paced.p99), rate: med(name, (r) => r.paced.achievedRate) });
  const paced = pacedOf('rungate');
  const pacedSqlite = pacedOf('rungate sqlite');
  const pacedBare = pacedOf('bare ws');
  const p99Ratio = perRepRatio((r) => r.burstP99Ms);
  const streamRatio = perRepRatio((r) => r.stream.messagesPerSec);
  const sseP99Ratio = perRepRatio((r) => r.burstP99Ms, 'rungate sse');
  const pacedP99Ratio = perRepRatio((r) => r.paced.p99);
  const pacedSqliteP99Ratio = perRepRatio((r) => r.paced.p99, 'rungate sqlite');
  const n = options.sockets.toLocaleString('en-US');
  const paceText = `${options.pacedRate.toLocaleString('en-US')} webhooks/s to ${options.pacedSockets} subscribers`;
  return {
    raw,
    summary: { p50, p99, p99Ratio, stream, streamRatio, sseP99Ratio, paced, pacedSqlite, pacedBare, pacedP99Ratio, pacedSqliteP99Ratio },
    rows: [
      { scenario: 'Fan-out', measure: `one change to ${n} sockets, p50 ms (vs bare ws)`, rungate: p50.rungate, baseline: p50.bare, ratio: perRepRatio((r) => r.burstP50Ms), goal: '—' },
      { scenario: 'Fan-out', measure: `one change to ${n} sockets, p99 ms (vs bare ws)`, rungate: p99.rungate, baseline: p99.bare, ratio: p99Ratio, goal: '≤ 0.9×', met: p99Ratio <= 0.9 },
      { scenario: 'Fan-out', measure: `sustained stream to ${n} sockets, messages/s (vs bare ws)`, rungate: stream.rungate, baseline: stream.bare, ratio: streamRatio, goal: '≥ 1.2×', met: streamRatio >= 1.2 },
      { scenario: 'Fan-out', measure: `one change to ${n} SSE streams, p50 ms (vs bare ws sockets)`, rungate: p50.sse, baseline: p50.bare, ratio: perRepRatio((r) => r.burstP50Ms, 'rungate sse'), goal: '—' },
      { scenario: 'Fan-out', measure: `one change to ${n} SSE streams, p99 ms (vs bare ws sockets)`, rungate: p99.sse, baseline: p99.bare, ratio: sseP99Ratio, goal: '≤ 1.2×', met: sseP99Ratio <= 1.2 },
      { scenario: 'Fan-out', measure: `${paceText}, p50 ms, memory store (vs bare ws relay)`, rungate: paced.p50, baseline: pacedBare.p50, ratio: perRepRatio((r) => r.paced.p50), goal: '—' },
      { scenario: 'Fan-out', measure: `${paceText}, p99 ms, memory store (vs bare ws relay)`, rungate: paced.p99, baseline: pacedBare.p99, ratio: pacedP99Ratio, goal: '≤ 1.2×', met: pacedP99Ratio <= 1.2 },
      { scenario: 'Fan-out', measure: `${paceText}, p50 ms, SQLite store (vs bare ws relay)`, rungate: pacedSqlite.p50, baseline: pacedBare.p50, ratio: perRepRatio((r) => r.paced.p50, 'rungate sqlite'), goal: '—' },
      { scenario: 'Fan-out', measure: `${paceText}, p99 ms, SQLite store (vs bare ws relay)`, rungate: pacedSqlite.p99, baseline: pacedBare.p99, ratio: pacedSqliteP99Ratio, goal: '≤ 1.2×', met: pacedSqliteP99Ratio <= 1.2 },
    ],
  };
}
