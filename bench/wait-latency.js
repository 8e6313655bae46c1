// How long after a run ends does a wait resolve? rungate's client (push over one WebSocket) side by
// side with Doclo's SDK waitForCompletion (GET every 1 s), on the same runs.
//
//   npm run build && node bench/wait-latency.js [runs=50] [runMs=1500]
//
// Plain JS over dist/, so it needs no TypeScript runner. The simulator, the gateway and both
// waiters share this process and its clock; a run's end is the simulator's `completedAt`.
/* global process, Buffer, fetch, console */ // a Node script; the lint config has no Node globals for plain JS
import { pino } from 'pino';
import { createClient } from '../dist/client/index.js';
import { loadServeConfig } from '../dist/config/serve-config.js';
import { startGateway } from '../dist/gateway.js';
import { createSimulator } from '../dist/simulator/index.js';
import { percentile, sleep } from './bench-lib.js';

const RUNS = Number(process.argv[2] ?? 50);
const RUN_MS = Number(process.argv[3] ?? 1500);
const FINAL = new Set(['success', 'failed', 'cancelled']);
const DOCUMENT = { base64: Buffer.from('%PDF-1.4 bench').toString('base64'), mimeType: 'application/pdf' };


/** Doclo's SDK loop (doclo-api.md §10), straight against Doclo (here: the simulator). */
async function docloWait(apiBase, id) {
  let gets = 0;
  for (;;) {
    const response = await fetch(`${apiBase}/runs/${encodeURIComponent(id)}`, { headers: { accept: 'application/json' } });
    gets += 1;
    const run = await response.json();
    if (FINAL.has(run.status)) return { at: Date.now(), gets, run };
    await sleep(1000);
  }
}

function stats(values) {
  return { median: percentile(values, 50), p90: percentile(values, 90), p99: percentile(values, 99), max: Math.max(...values) };
}

const sim = await createSimulator({ runMs: RUN_MS, failRate: 0, seed: 2024 });
const config = loadServeConfig(
  ['--port', '0', '--store', 'memory', '--upstream-url', `${sim.url}/api/v1`, '--webhook-secret', sim.webhookSecret, '--log-level', 'silent'],
  {},
);
const gateway = await startGateway({ ...config, simulate: false }, pino({ level: 'silent' }));
const client = createClient({ url: gateway.url });
const rungate = [];
const doclo = [];
let docloGets = 0;
try {
  await Promise.all(
    Array.from({ length: RUNS }, async (_, i) => {
      await sleep(i * 40); // staggered starts, so poll phases fall anywhere in the run
      const started = await client.flows.run('bench-flow', { input: { document: DOCUMENT } });
      const [push, poll] = await Promise.all([
        client.runs.waitForCompletion(started.id, { timeout: 60_000 }).then((run) => ({ at: Date.now(), run })),
        docloWait(`${sim.url}/api/v1`, started.id),
      ]);
      const endedAt = Date.parse(poll.run.completedAt);
      rungate.push(push.at - endedAt);
      doclo.push(poll.at - endedAt);
      docloGets += poll.gets;
    }),
  );
  const upstreamGetsByGateway = sim.stats().requests.get - docloGets;
  const row = (name, s, gets) => `${name.padEnd(34)} ${String(s.median).padStart(6)} ${String(s.p90).padStart(6)} ${String(s.p99).padStart(6)} ${String(s.max).padStart(6)} ${String(gets).padStart(12)}`;
  console.log(`${RUNS} runs of ${RUN_MS} ms ± 50 %, node ${process.version}; ms from the run's end to the wait resolving`);
  console.log(`${'waiter'.padEnd(34)} ${'median'.padStart(6)} ${'p90'.padStart(6)} ${'p99'.padStart(6)} ${'max'.padStart(6)} ${'upstream GETs'.padStart(12)}`);
  console.log(row('rungate client (WebSocket push)', stats(rungate), upstreamGetsByGateway));
  console.log(row("Doclo SDK style (GET every 1 s)", stats(doclo), docloGets));
} finally {
  client.close();
  await gateway.close();
  await sim.close();
}
