// Scenario 1, waiting for runs: R runs of runMs ± 50 %, W waiters per run. Doclo-style waiters
// poll the simulator every 1 s (its SDK's default) against rungate clients waiting over the
// WebSocket (one createClient per run's group of waiters), with 0 %, 30 % and 100 % of webhooks
// lost. Simulator and gateway run in their own processes; waiters here. The two kinds of waiter
// run in separate phases on the same seed, so neither's load skews the other's latency.
// Latency: from the run's `completedAt` (the simulator's clock, the same machine's) to the wait
// resolving. Upstream requests come from the simulator's own counters. Before the measured runs,
// rungate's gateway sees `learnRuns` runs of the same flow end (the poll plan is learnt per flow:
// durations and how often webhooks go missing); those are reported apart, as "while learning".
/* global Buffer, fetch */ // a Node script; the lint config has no Node globals for plain JS
import { fromDist, median, sleep, startWorker, summarize } from './bench-lib.js';

const FINAL = new Set(['success', 'failed', 'cancelled']);
const DOCUMENT = { base64: Buffer.from('%PDF-1.4 bench').toString('base64'), mimeType: 'application/pdf' };
const STAGGER_MS = 10;

async function simStats(simUrl) {
  return (await fetch(`${simUrl}/_sim/stats`)).json();
}

/** A start on the simulator, tried again (up to 5 times) when a loaded machine resets the connection. */
async function startRetrying(url) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input: { document: DOCUMENT } }) })).json();
    } catch (error) {
      if (attempt >= 5) throw error;
      await sleep(200 * attempt);
    }
  }
}

/** Doclo's SDK loop (doclo-api.md §10): GET, and again 1 s later until final. */
async function docloWait(apiBase, id, deadline) {
  for (;;) {
    let run;
    try {
      const response = await fetch(`${apiBase}/runs/${encodeURIComponent(id)}`, { headers: { accept: 'application/json' } });
      run = await response.json();
    } catch (error) {
      // A loaded machine's simulator may reset a connection (a full accept queue, a keep-alive
      // race): the loop's next GET, a second later, is what the SDK would do next anyway.
      if (Date.now() > deadline) throw error;
      await sleep(1000);
      continue;
    }
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
        const started = await startRetrying(`${api}/flows/bench-flow/run`);
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
    const batch = async (runs) => {
      const latencies = [];
      const lostLatencies = [];
      await Promise.all(
        Array.from({ length: runs }, async (_, i) => {
          await sleep(i * STAGGER_MS);
          const client = createClient({ url });
          try {
            const started = await client.flows.run('bench-flow', { input: { document: DOCUMENT } });
            const waits = await Promise.all(
              Array.from({ length: options.waiters }, () => client.runs.waitForCompletion(started.id, { timeout: 120_000 }).then((run) => ({ at: Date.now(), run }))),
            );
            for (const wait of waits) {
              const latency = wait.at - Date.parse(wait.run.completedAt);
              latencies.push(latency);
              // Its final state came from a poll: its webhook was lost (or came after the poll).
              if (wait.run.source === 'poll') lostLatencies.push(latency);
            }
          } finally {
            client.close();
          }
        }),
      );
      return { latencies, lostLatencies };
    };
    const learning = options.learnRuns > 0 ? await batch(options.learnRuns) : { latencies: [], lostLatencies: [] };
    const learnt = await simStats(simUrl);
    const measured = await batch(options.runs);
    const stats = await simStats(simUrl);
    return { ...measured, learning: { ...learning, gets: learnt.requests.get }, gets: stats.requests.get - learnt.requests.get, stats };
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
      const lost = summarize(result.lostLatencies);
      const learning = summarize(result.learning.latencies);
      const row = {
        rep,
        waiter: 'rungate',
        dropRate,
        ...summarize(result.latencies),
        lostP50: lost.p50,
        lostP99: lost.p99,
        lostWaits: result.lostLatencies.length,
        getsPerRun: result.gets / options.runs,
        learningRuns: options.learnRuns,
        learningGetsPerRun: options.learnRuns > 0 ? result.learning.gets / options.learnRuns : undefined,
        learningP50: learning.p50,
        learningP99: learning.p99,
        webhooks: result.stats.webhooks,
      };
      raw.push(row);
      log(`  waiting rep ${rep + 1}/${options.reps} rungate, ${dropRate * 100} % lost: ${row.getsPerRun.toFixed(2)} GETs/run, p50 ${row.p50} p99 ${row.p99} ms, lost runs p50 ${row.lostP50} ms; while learning (${options.learnRuns} runs) ${row.learningGetsPerRun?.toFixed(2)} GETs/run, p50 ${row.learningP50} ms`);
    }
  }
  const med = (filter, key) => median(raw.filter(filter).map((r) => r[key]));
  const poll = (key) => med((r) => r.waiter === 'doclo-polling', key);
  const rows = [];
  const perWaiter = poll('getsPerRun') / options.waiters;
  // Issue 19, goal 1 (recovery that beats polling): the bounds each figure is held to.
  const GOALS = {
    0: { gets: { text: '0', met: (v) => v === 0 } },
    0.3: { gets: { text: '≤ 0.5', met: (v) => v <= 0.5 }, lostP50: { text: '≤ 2,500', met: (v) => v <= 2500 } },
    1: { gets: { text: '≤ 2.0', met: (v) => v <= 2 }, p50: { text: '≤ 1,000', met: (v) => v <= 1000 }, p99: { text: '≤ 3,000', met: (v) => v <= 3000 } },
  };
  for (const dropRate of options.dropRates) {
    const mine = (key) => med((r) => r.waiter === 'rungate' && r.dropRate === dropRate, key);
    const goals = GOALS[dropRate] ?? {};
    const goal = (key, value) => (goals[key] ? { goal: goals[key].text, met: value === undefined || Number.isNaN(value) ? false : goals[key].met(value) } : { goal: '—' });
    const label = `${Math.round(dropRate * 100)} % webhooks lost`;
    rows.push({
      scenario: 'Waiting',
      measure: `upstream GETs per run, ${label} (vs ${options.waiters} pollers/run, ${perWaiter.toFixed(1)} each)`,
      rungate: mine('getsPerRun'),
      baseline: poll('getsPerRun'),
      ratio: mine('getsPerRun') / poll('getsPerRun'),
      ...goal('gets', mine('getsPerRun')),
    });
    rows.push({ scenario: 'Waiting', measure: `completion→waiter p50 ms, ${label} (vs 1-s polling)`, rungate: mine('p50'), baseline: poll('p50'), ratio: mine('p50') / poll('p50'), ...goal('p50', mine('p50')) });
    rows.push({ scenario: 'Waiting', measure: `completion→waiter p99 ms, ${label} (vs 1-s polling)`, rungate: mine('p99'), baseline: poll('p99'), ratio: mine('p99') / poll('p99'), ...goal('p99', mine('p99')) });
    if (dropRate > 0 && dropRate < 1) {
      rows.push({ scenario: 'Waiting', measure: `completion→waiter p50 ms of the lost runs, ${label} (vs 1-s polling)`, rungate: mine('lostP50'), baseline: poll('p50'), ratio: mine('lostP50') / poll('p50'), ...goal('lostP50', mine('lostP50')) });
    }
    if (options.learnRuns > 0 && dropRate > 0) {
      rows.push({
        scenario: 'Waiting',
        measure: `while learning (the flow's first ${options.learnRuns} runs), ${label}: GETs per run; p50 ms`,
        rungate: mine('learningGetsPerRun'),
        baselineText: `p50 ${Math.round(mine('learningP50'))} ms`,
        goal: '—',
      });
    }
  }
  return { raw, summary: { perWaiterPollingGets: perWaiter }, rows };
}
