// Part "budget" of the scale scenario: recovery with every webhook lost, for N tracked runs,
// under one Doclo rate limit shared by two gateways on one Redis store (a unique key prefix).
// The simulator (its own process) drops every webhook and limits lookups to --budget-per-minute;
// its starts are exempt from the limit (--rate-limit-exempt-starts), so starting N runs leaves
// the window to the polls that recover them. The runs are started straight at the simulator and
// made known to the gateways by one signed `running` webhook each (alternately to A and B), the
// way runs started elsewhere become tracked; from then on only the gateways' polls can learn how
// they ended. Recovery of a run = its final frame's receipt by a `flowId: "*"` subscriber of A
// (the bus carries B's finds too) minus the simulator's completedAt, on one machine's clock.
// The simulator's window is read from its uncounted `/_sim/stats` (X-RateLimit-* on its answer)
// every 250 ms: requests let through per window = limit − the lowest remaining seen in it.
/* global URL, Buffer, process, TextDecoder */ // a Node script; the lint config has no Node globals for plain JS
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { createPoster, fmt, now, openSubscribed, percentile, pool, sign, sleep, startWorker } from './bench-lib.js';
import { deletePrefix } from './scenario-cluster.js';

const SECRET = 'whsec_bench_budget_0123456789abcdef';
const FLOW = 'bench-budget-flow';
const DOCUMENT = Buffer.from('%PDF-1.4 budget').toString('base64');
const FINAL = new Set(['success', 'failed', 'completed', 'cancelled']);

const decoder = new TextDecoder();
const statsAgent = new Agent({ keepAlive: true, maxSockets: 1 });

/** `/_sim/stats` with the window's numbers from its headers (neither counted nor limited). */
function simStats(simUrl) {
  const target = new URL(`${simUrl}/_sim/stats`);
  return new Promise((done, fail) => {
    const req = request({ agent: statsAgent, host: target.hostname, port: target.port, path: target.pathname }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () =>
        done({
          at: now(),
          stats: JSON.parse(Buffer.concat(chunks).toString()),
          remaining: Number(res.headers['x-ratelimit-remaining']),
          resetSeconds: Number(res.headers['x-ratelimit-reset']),
        }),
      );
      res.on('error', fail);
    });
    req.on('error', fail);
    req.end();
  });
}

/** A `flowId: "*"` subscriber: notes when each run's final state first arrived (epoch ms). */
function subscribe(gatewayUrl, finals) {
  return openSubscribed(`${gatewayUrl.replace('http', 'ws')}/ws`, { op: 'subscribe', flowId: '*' }, (data) => {
    const at = Date.now();
    const run = JSON.parse(decoder.decode(data)).run;
    if (run && FINAL.has(run.status) && !finals.has(run.id)) finals.set(run.id, at - Date.parse(run.completedAt ?? run.cancelledAt));
  });
}

/** The simulator's windows from the samples: per window end, requests let through and refused. */
function windowsOf(samples, limit) {
  const windows = new Map();
  let previousLimited = samples[0]?.stats.requests.rateLimited ?? 0;
  for (const sample of samples) {
    const limited = sample.stats.requests.rateLimited;
    const window = windows.get(sample.resetSeconds) ?? { resetSeconds: sample.resetSeconds, allowed: 0, refused: 0 };
    window.allowed = Math.max(window.allowed, limit - sample.remaining);
    window.refused += limited - previousLimited;
    previousLimited = limited;
    windows.set(sample.resetSeconds, window);
  }
  // A sample taken while no window is open advertises one that never opens: nothing in it.
  return [...windows.values()].filter((w) => w.allowed + w.refused > 0);
}

async function oneSize(size, options, log, rep) {
  const budget = options.budgetPerMinute;
  const sim = startWorker('server-worker.js', {
    kind: 'sim',
    options: { runMs: options.budgetRunMs, failRate: 0, webhookDropRate: 1, webhookSecret: SECRET, seed: rep + 1, rateLimit: budget, rateLimitExemptStarts: true },
  });
  const prefix = `rungate-bench-budget:${process.pid}-${randomBytes(4).toString('hex')}:`;
  const poster = createPoster(64);
  const gateways = [];
  let socket;
  try {
    const { url: simUrl } = await sim.ready;
    const spec = { kind: 'rungate', store: options.redisUrl, secret: SECRET, upstreamUrl: `${simUrl}/api/v1`, args: ['--redis-prefix', prefix, '--rate-limit-per-ip', '0'] };
    for (let i = 0; i < 2; i++) {
      gateways.push(startWorker('server-worker.js', spec));
      await gateways[i].ready;
    }
    const [urlA, urlB] = await Promise.all(gateways.map((g) => g.ready.then((r) => r.url)));
    const finals = new Map();
    socket = await subscribe(urlA, finals);

    const samples = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        samples.push(await simStats(simUrl));
        await sleep(250);
      }
    })();

    // Start every run at the simulator, then tell one of the gateways it is running.
    const started = now();
    const startBody = JSON.stringify({ input: { document: { base64: DOCUMENT, mimeType: 'application/pdf' } }, webhookUrl: `${urlA}/webhooks/doclo` });
    const ids = [];
    await pool(size, 32, async (i) => {
      const answer = await poster.post(`${simUrl}/api/v1/flows/${FLOW}/run`, startBody);
      if (answer.status !== 200) throw new Error(`start answered ${answer.status}: ${answer.body.slice(0, 200)}`);
      const run = JSON.parse(answer.body);
      ids.push(run.id);
      const body = JSON.stringify({
        event: 'run.started',
        timestamp: new Date().toISOString(),
        data: { id: run.id, flowId: run.flowId, status: 'running', createdAt: run.createdAt, metadata: { source: 'bench' } },
      });
      const tracked = await poster.post(`${i % 2 === 0 ? urlA : urlB}/webhooks/doclo`, body, { 'x-doclo-signature': sign(SECRET, body) });
      if (tracked.status !== 200) throw new Error(`running webhook answered ${tracked.status}: ${tracked.body.slice(0, 200)}`);
    });
    const startMs = now() - started;
    log(`    ${size} runs started and tracked in ${(startMs / 1000).toFixed(1)} s`);

    // Polls may use 90 % of each window (the rest is kept for starts and cancels), and a window
    // lasts a minute plus the rounding of its reset to whole seconds: the last run cannot be found
    // before that many windows have passed.
    const deadlineMs = (Math.ceil(size / (budget * 0.9)) + 1) * 65_000 + 30_000;
    const waitStarted = now();
    let lastLog = waitStarted;
    while (finals.size < size && now() - waitStarted < deadlineMs) {
      await sleep(200);
      if (now() - lastLog >= 15_000) {
        lastLog = now();
        const last = samples[samples.length - 1]?.stats.requests;
        log(`      ${fmt((now() - started) / 1000)} s: ${finals.size}/${size} recovered, ${last?.get ?? 0} GETs, ${last?.rateLimited ?? 0} × 429`);
      }
    }
    const recoveredMs = now() - started;
    // A last look: requests still in flight land in the counters.
    await sleep(500);
    sampling = false;
    await sampler;
    const end = samples[samples.length - 1].stats;
    const latencies = ids.filter((id) => finals.has(id)).map((id) => finals.get(id));
    const windows = windowsOf(samples, budget);
    const busiest = windows.reduce((top, w) => (w.allowed + w.refused > top.allowed + top.refused ? w : top), { allowed: 0, refused: 0 });
    const point = {
      size,
      budgetPerMinute: budget,
      runMs: options.budgetRunMs,
      startMs,
      recovered: latencies.length,
      recoveryP50Ms: percentile(latencies, 50),
      recoveryP99Ms: percentile(latencies, 99),
      recoveryMaxMs: latencies.length > 0 ? Math.max(...latencies) : NaN,
      spanMs: recoveredMs,
      gets: end.requests.get,
      rateLimited: end.requests.rateLimited,
      webhooksDropped: end.webhooks.dropped,
      // Lookups per minute over the whole measurement (starts are exempt and not counted here).
      getsPerMinute: (end.requests.get / recoveredMs) * 60_000,
      busiestWindow: busiest,
      windows,
    };
    log(
      `    ${size} runs: ${point.recovered} recovered, p50 ${fmt(point.recoveryP50Ms / 1000)} s, p99 ${fmt(point.recoveryP99Ms / 1000)} s, max ${fmt(point.recoveryMaxMs / 1000)} s; ` +
        `${point.gets} GETs (${fmt(point.gets / size)} per run), ${point.rateLimited} × 429, busiest window ${busiest.allowed + busiest.refused} requests, ${fmt(point.getsPerMinute)} GETs/min`,
    );
    return point;
  } finally {
    socket?.terminate();
    poster.close();
    for (const gateway of gateways.reverse()) await gateway.stop();
    await sim.stop();
    await deletePrefix(options.redisUrl, prefix);
  }
}

export async function budgetCurve(options, log) {
  const points = [];
  for (const size of options.budgetSizes) points.push(await oneSize(size, options, log, 0));
  statsAgent.destroy();
  const budget = options.budgetPerMinute;
  const table = [
    `**Recovery with every webhook lost, two gateways (Redis) under one Doclo budget of ${fmt(budget)} requests/min** (runs of ${fmt(options.budgetRunMs / 1000)} s ± 50 %; recovery = final state pushed − Doclo's completedAt; starts exempt from the budget; one repetition per size)`,
    '',
    '| tracked runs | recovered | recovery p50, s | p99, s | max, s | GETs made (per run) | 429s received | busiest window at the simulator, requests | GETs/min over the measurement |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...points.map(
      (p) =>
        `| ${fmt(p.size)} | ${fmt(p.recovered)} | ${fmt(p.recoveryP50Ms / 1000)} | ${fmt(p.recoveryP99Ms / 1000)} | ${fmt(p.recoveryMaxMs / 1000)} | ${fmt(p.gets)} (${fmt(p.gets / p.size)}) | ${fmt(p.rateLimited)} | ${fmt(p.busiestWindow.allowed + p.busiestWindow.refused)} of ${fmt(budget)} | ${fmt(p.getsPerMinute)} |`,
    ),
  ].join('\n');
  const largest = points.find((p) => p.size === Math.max(...options.budgetSizes));
  const scenario = 'Scale: recovery under a budget (Redis, 2 instances)';
  const what = `${fmt(largest.size)} tracked runs, every webhook lost, ${fmt(budget)}/min`;
  const rows = [
    {
      scenario,
      measure: `${what}: 429s received (busiest simulator window ${fmt(largest.busiestWindow.allowed + largest.busiestWindow.refused)} requests)`,
      rungate: largest.rateLimited,
      goal: 'never exceed the budget: no 429 from the simulator',
      met: largest.rateLimited === 0,
    },
    {
      scenario,
      measure: `${what}: recovery p50, s (p99 ${fmt(largest.recoveryP99Ms / 1000)}, ${fmt(largest.recovered)} of ${fmt(largest.size)} recovered, ${fmt(largest.gets / largest.size)} GETs per run)`,
      rungate: largest.recoveryP50Ms / 1000,
    },
  ];
  return { points, table, rows };
}
