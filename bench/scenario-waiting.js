// Scenario 1, waiting for runs: R runs of runMs ± 50 %, W waiters per run. Doclo-style waiters
// poll the simulator every 1 s (its SDK's default) against rungate clients waiting over the
// WebSocket (one createClient per run's group of waiters), with 0 %, 30 % and 100 % of webhooks
// lost. Simulator and gateway run in their own processes; waiters here. The two kinds of waiter
// run in separate phases on the same seed, so neither's load skews the other's latency.
// Latency: from the run's `completedAt` (the simulator's clock, the same machine's) to the wait
// resolving. Upstream requests come from the simulator's own counters.
/* global Buffer, fetch */ // a Node script; the lint config has no Node globals for plain JS
import { fromDist, median, sleep, startWorker, summarize } from './bench-lib.js';

const FINAL = new Set(['success', 'failed', 'cancelled']);
const DOCUMENT = { base64: Buffer.from('%PDF-1.4 bench').toString('base64'), mimeType: 'application/pdf' };
const STAGGER_MS = 10;

async function simStats(simUrl) {
  return (await fetch(`${simUrl}/_sim/stats`)).json();
}

/** Doclo's SDK loop (doclo-api.md §10): GET, and again 1 s later until final. */
async function docloWait(apiBase, id, deadline) {
  for (;;) {
    const response = await fetch(`${apiBase}/runs/${encodeURIComponent(id)}`, { headers: { accept: 'application/json' } });
    const run = await response.json();
    if (FINAL.has(run.status)) return { at: Date.now(), run };
    if (Date.now() > deadline) throw new Error(`run ${id} not final in time`);
    await sleep(1000);
  }
}

async function pollingPhase(options, seed) {
  const sim = startWorker('server-worker.js', { kind: 'sim', options: { runMs: options.runMs, failRate: 0, seed } });
  try {
    const { url } = await sim.ready;
    const api = `${url}/api/v1`;
    const latencies = [];
    await Promise.all(
      Array.from({ length: options.runs }, async (_, i) => {
        await sleep(i * STAGGER_MS);
        const started = await (await fetch(`${api}/flows/bench-flow/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input: { document: DOCUMENT } }) })).json();
        const deadline = Date.now() + 120_000;
        const waits = await Promise.all(Array.from({ length: options.waiters }, () => docloWait(api, started.id, deadline)));
        for (const wait of waits) latencies.push(wait.at - Date.parse(wait.run.completedAt));
      }),
    );
    const stats = await simStats(url);
    return { latencies, stats };
  } finally {
    await sim.stop();
  }
}

async function rungatePhase(options, seed, dropRate) {
  const { createClient } = await fromDist('client/index.js');
  const sim = startWorker('server-worker.js', { kind: 'sim', options: { runMs: options.runMs, failRate: 0, seed, webhookDropRate: dropRate } });
  let gateway;
  try {
    const { url: simUrl, secret } = await sim.ready;
    gateway = startWorker('server-worker.js', { kind: 'rungate', store: 'memory', secret, upstreamUrl: `${simUrl}/api/v1`, args: options.gatewayArgs ?? [] });
    const { url } = await gateway.ready;
    const latencies = [];
    await Promise.all(
      Array.from({ length: options.runs }, async (_, i) => {
        await sleep(i * STAGGER_MS);
        const client = createClient({ url });
        try {
          const started = await client.flows.run('bench-flow', { input: { document: DOCUMENT } });
          const waits = await Promise.all(
            Array.from({ length: options.waiters }, () => client.runs.waitForCompletion(started.id, { timeout: 120_000 }).then((run) => ({ at: Date.now(), run }))),
          );
          for (const wait of waits) latencies.push(wait.at - Date.parse(wait.run.completedAt));
        } finally {
          client.close();
        }
      }),
    );
    const stats = await simStats(simUrl);
    return { latencies, stats };
  } finally {
    await gateway?.stop();
    await sim.stop();
  }
}

export async function run(options, log) {
  const gatewayArgs = options.smoke ? ['--poll-grace-ms', '300', '--poll-min-grace-ms', '100', '--poll-interval-ms', '200'] : [];
  const raw = [];
  for (let rep = 0; rep < options.reps; rep++) {
    const seed = 2024 + rep;
    const polling = await pollingPhase(options, seed);
    const pollRow = { rep, waiter: 'doclo-polling', dropRate: null, ...summarize(polling.latencies), getsPerRun: polling.stats.requests.get / options.runs, requestsPerRun: (polling.stats.requests.get + polling.stats.requests.run) / options.runs };
    raw.push(pollRow);
    log(`  waiting rep ${rep + 1}/${options.reps} doclo polling: ${pollRow.getsPerRun.toFixed(2)} GETs/run, p50 ${pollRow.p50} p99 ${pollRow.p99} ms`);
    for (const dropRate of options.dropRates) {
      // Smoke runs shorten the fallback only where webhooks are lost; with all of them arriving
      // the defaults apply, so "no upstream GET" is checked as configured for real.
      const result = await rungatePhase({ ...options, gatewayArgs: dropRate > 0 ? gatewayArgs : [] }, seed, dropRate);
      const row = {
        rep,
        waiter: 'rungate',
        dropRate,
        ...summarize(result.latencies),
        getsPerRun: result.stats.requests.get / options.runs,
        requestsPerRun: (result.stats.requests.get + result.stats.requests.run) / options.runs,
        webhooks: result.stats.webhooks,
      };
      raw.push(row);
      log(`  waiting rep ${rep + 1}/${options.reps} rungate, ${dropRate * 100} % lost: ${row.getsPerRun.toFixed(2)} GETs/run, p50 ${row.p50} p99 ${row.p99} ms`);
    }
  }
  const med = (filter, key) => median(raw.filter(filter).map((r) => r[key]));
  const poll = (key) => med((r) => r.waiter === 'doclo-polling', key);
  const rows = [];
  const perWaiter = poll('getsPerRun') / options.waiters;
  for (const dropRate of options.dropRates) {
    const mine = (key) => med((r) => r.waiter === 'rungate' && r.dropRate === dropRate, key);
    const label = `${Math.round(dropRate * 100)} % webhooks lost`;
    const getsGoal = dropRate === 0 ? '0' : dropRate === 1 ? '≤ 3' : '—';
    const getsMet = dropRate === 0 ? mine('getsPerRun') === 0 : dropRate === 1 ? mine('getsPerRun') <= 3 : undefined;
    rows.push({
      scenario: 'Waiting',
      measure: `upstream GETs per run, ${label} (vs ${options.waiters} pollers/run, ${perWaiter.toFixed(1)} each)`,
      rungate: mine('getsPerRun'),
      baseline: poll('getsPerRun'),
      ratio: mine('getsPerRun') / poll('getsPerRun'),
      goal: getsGoal,
      met: getsMet,
    });
    rows.push({ scenario: 'Waiting', measure: `completion→waiter p50 ms, ${label} (vs 1-s polling)`, rungate: mine('p50'), baseline: poll('p50'), ratio: mine('p50') / poll('p50'), goal: '—' });
    rows.push({ scenario: 'Waiting', measure: `completion→waiter p99 ms, ${label} (vs 1-s polling)`, rungate: mine('p99'), baseline: poll('p99'), ratio: mine('p99') / poll('p99'), goal: '—' });
  }
  rows.push({ scenario: 'Waiting', measure: 'Doclo-style GETs per waiter (1-s polling)', rungate: undefined, baseline: perWaiter, goal: 'issue expects ≥ 5', met: perWaiter >= 5 });
  return { raw, summary: { perWaiterPollingGets: perWaiter }, rows };
}
