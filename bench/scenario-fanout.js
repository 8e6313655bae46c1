// Scenario 3, fan-out: N WebSocket subscribers (flowId "*") of rungate against a bare ws server
// broadcasting one frame to as many sockets. Server and clients in separate processes; the client
// process also sends the change, so the latency (POST sent → frame received, per socket) is read
// on one clock. Then a sustained stream of changes to the same sockets (messages/s), and for
// rungate alone the goal case: 1,000 webhooks/s to a few subscribers, latency p50/p99.
import { median, ratio, startWorker } from './bench-lib.js';

const SECRET = 'whsec_bench_fanout_0123456789abcdef';

const TARGETS = [
  { name: 'rungate', server: { kind: 'rungate', store: 'memory', secret: SECRET }, subscribe: { op: 'subscribe', flowId: '*' }, secret: SECRET },
  { name: 'bare ws', server: { kind: 'ws' }, subscribe: null, secret: null },
];

async function withClients(url, target, count, work) {
  const clients = startWorker('ws-client-worker.js', { wsUrl: `${url.replace('http', 'ws')}/ws`, count, subscribe: target.subscribe, postUrl: url, secret: target.secret }, { timeoutMs: 120_000 });
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
  const server = startWorker('server-worker.js', target.server, { execArgv: profileArgs });
  try {
    const { url } = await server.ready;
    const result = { target: target.name, rep };
    await withClients(url, target, options.sockets, async (clients, connected) => {
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
      result.stream = await clients.ask({ type: 'stream', durationMs: options.streamSeconds * 1000, concurrency: 4, prefix: `exec_stream_${rep}_` }, options.streamSeconds * 1000 + 120_000);
    });
    await withClients(url, target, options.pacedSockets, async (clients) => {
      result.paced = await clients.ask({ type: 'paced', rate: options.pacedRate, durationMs: options.pacedSeconds * 1000, prefix: `exec_paced_${rep}_` }, options.pacedSeconds * 1000 + 60_000);
    });
    return result;
  } finally {
    await server.stop();
  }
}

export async function run(options, log) {
  const raw = [];
  for (let rep = 0; rep < options.reps; rep++) {
    for (const target of TARGETS) {
      const result = await measureTarget(target, options, rep, target.name === 'rungate' ? options.profileArgs ?? [] : []);
      log(
        `  fanout rep ${rep + 1}/${options.reps} ${target.name}: ${options.sockets} sockets, burst p50 ${result.burstP50Ms.toFixed(1)} p99 ${result.burstP99Ms.toFixed(1)} ms; ` +
          `stream ${Math.round(result.stream.messagesPerSec)} msg/s (${result.stream.received}/${result.stream.expected}); ` +
          `paced ${Math.round(result.paced.achievedRate)}/s p50 ${result.paced.p50.toFixed(2)} p99 ${result.paced.p99.toFixed(2)} ms`,
      );
      raw.push(result);
    }
  }
  const med = (name, pick) => median(raw.filter((r) => r.target === name).map(pick));
  const perRepRatio = (pick) =>
    median(Array.from({ length: options.reps }, (_, rep) => {
      const mine = raw.find((r) => r.rep === rep && r.target === 'rungate');
      const base = raw.find((r) => r.rep === rep && r.target === 'bare ws');
      return mine && base ? pick(mine) / pick(base) : NaN;
    }));
  const p99 = { rungate: med('rungate', (r) => r.burstP99Ms), bare: med('bare ws', (r) => r.burstP99Ms) };
  const p50 = { rungate: med('rungate', (r) => r.burstP50Ms), bare: med('bare ws', (r) => r.burstP50Ms) };
  const stream = { rungate: med('rungate', (r) => r.stream.messagesPerSec), bare: med('bare ws', (r) => r.stream.messagesPerSec) };
  const paced = { p50: med('rungate', (r) => r.paced.p50), p99: med('rungate', (r) => r.paced.p99), rate: med('rungate', (r) => r.paced.achievedRate) };
  const pacedBare = { p50: med('bare ws', (r) => r.paced.p50), p99: med('bare ws', (r) => r.paced.p99) };
  const p99Ratio = perRepRatio((r) => r.burstP99Ms);
  const n = options.sockets.toLocaleString('en-US');
  return {
    raw,
    summary: { p50, p99, p99Ratio, stream, paced, pacedBare },
    rows: [
      { scenario: 'Fan-out', measure: `one change to ${n} sockets, p50 ms (vs bare ws)`, rungate: p50.rungate, baseline: p50.bare, ratio: perRepRatio((r) => r.burstP50Ms), goal: '—' },
      { scenario: 'Fan-out', measure: `one change to ${n} sockets, p99 ms (vs bare ws)`, rungate: p99.rungate, baseline: p99.bare, ratio: p99Ratio, goal: '≤ 1.3×', met: p99Ratio <= 1.3 },
      { scenario: 'Fan-out', measure: `sustained stream to ${n} sockets, messages/s (vs bare ws)`, rungate: stream.rungate, baseline: stream.bare, ratio: perRepRatio((r) => r.stream.messagesPerSec), goal: '—' },
      {
        scenario: 'Fan-out',
        measure: `${options.pacedRate} webhooks/s to ${options.pacedSockets} subscribers, p50 ms (vs bare ws relay)`,
        rungate: paced.p50,
        baseline: pacedBare.p50,
        ratio: ratio(paced.p50, pacedBare.p50),
        goal: '—',
      },
      {
        scenario: 'Fan-out',
        measure: `${options.pacedRate} webhooks/s to ${options.pacedSockets} subscribers, p99 ms (vs bare ws relay)`,
        rungate: paced.p99,
        baseline: pacedBare.p99,
        ratio: ratio(paced.p99, pacedBare.p99),
        goal: '≤ 5 ms',
        met: paced.p99 <= 5,
      },
    ],
  };
}
