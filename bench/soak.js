// `npm run soak`: steady load on one gateway for minutes, to show that its memory levels off and
// its push latency holds, with nothing lost, duplicated or answered 5xx. Three processes besides
// this one: the gateway (bench/server-worker.js, measured), the Doclo simulator, and the load with
// its subscribers and checker (bench/soak-load-worker.js), so on 2 cores the gateway has one.
//
//   node bench/soak.js [--minutes 10] [--rate 500] [--subscribers 2000] [flags below]
//
// Prints a per-minute markdown table on stdout (progress on stderr) and writes
// bench/results/soak-<time>.json and .svg (RSS and push p99 over time).
/* global process, console, setTimeout */ // a Node script; the lint config has no Node globals for plain JS
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { assertBuilt, BENCH_DIR, DIST, fmt, ROOT, sleep, startNodeFlags, startWorker } from './bench-lib.js';
import { LatencyHistogram } from './soak-histogram.js';
import { soakSvg } from './soak-plot.js';

const { values: flags } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    rate: { type: 'string', default: '500' },
    subscribers: { type: 'string', default: '2000' },
    'subscribers-per-run': { type: 'string', default: '10' },
    connections: { type: 'string', default: '40' },
    'drop-rate': { type: 'string', default: '0.2' },
    'fail-rate': { type: 'string', default: '0.1' },
    'run-ms': { type: 'string', default: '1000' },
    'sim-share': { type: 'string', default: '0.5' },
    'wait-share': { type: 'string', default: '0.05' },
    reads: { type: 'string', default: '20' },
    store: { type: 'string', default: 'sqlite' },
    transport: { type: 'string', default: 'ws' },
    'sample-s': { type: 'string', default: '5' },
    'heap-snapshots': { type: 'string', default: '' },
    'heap-profile': { type: 'string', default: '' },
    'gateway-arg': { type: 'string', multiple: true, default: [] },
    'gateway-node-arg': { type: 'string', multiple: true, default: [] },
    'drain-s': { type: 'string', default: '60' },
    seed: { type: 'string' },
    'no-build': { type: 'boolean', default: false },
    out: { type: 'string' },
  },
});

const num = (name) => {
  const value = Number(flags[name]);
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a non-negative number, got ${flags[name]}`);
  return value;
};
const options = {
  minutes: num('minutes'),
  webhooksPerSec: num('rate'),
  subscribers: num('subscribers'),
  subscribersPerRun: num('subscribers-per-run'),
  connections: num('connections'),
  dropRate: num('drop-rate'),
  failRate: num('fail-rate'),
  runMs: num('run-ms'),
  simShare: num('sim-share'),
  waitShare: num('wait-share'),
  readsPerSec: num('reads'),
  store: flags.store,
  transport: flags.transport,
  sampleSeconds: Math.max(1, num('sample-s')),
  heapSnapshotMinutes: flags['heap-snapshots'].split(',').filter(Boolean).map(Number),
  // MINUTE:SECONDS — sample for SECONDS from MINUTE what the gateway allocates that outlives a scavenge.
  heapProfile: flags['heap-profile'] ? flags['heap-profile'].split(':').map(Number) : undefined,
  gatewayArgs: flags['gateway-arg'].flatMap((arg) => arg.split(' ')).filter(Boolean),
  // The gateway runs with npm start's node flags, then any given here (a later flag wins).
  gatewayNodeArgs: [...startNodeFlags(), ...flags['gateway-node-arg'].flatMap((arg) => arg.split(' ')).filter(Boolean)],
  drainSeconds: num('drain-s'),
  seed: flags.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(flags.seed),
};
if (options.subscribersPerRun < 1 || options.subscribersPerRun > options.connections) throw new Error('--subscribers-per-run must be between 1 and --connections');
const flows = Math.max(1, Math.round(options.subscribers / options.subscribersPerRun));
// Webhooks per run: a simulated run sends one (its end) unless dropped; a synthetic run two.
const webhooksPerRun = options.simShare * (1 - options.dropRate) + 2 * (1 - options.simShare);
const runsPerSec = options.webhooksPerSec / webhooksPerRun;
const outDir = flags.out ?? process.env.RUNGATE_BENCH_RESULTS ?? join(BENCH_DIR, 'results');
const log = (line) => console.error(line);
const MiB = 1024 * 1024;

function build() {
  if (flags['no-build'] || process.env.RUNGATE_BENCH_DIST) return assertBuilt();
  log('building (npm run build)…');
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) log('warning: the build reported type errors; soaking what it emitted');
  assertBuilt();
}

function storeSpec(dataDir) {
  if (options.store === 'sqlite') return `sqlite:${join(dataDir, 'soak.db')}`;
  return options.store; // memory, or a redis:// URL
}

/**
 * The q-quantile of the gateway's own push histogram between two samples: the upper bound of the
 * bucket it falls in (ms), so coarse; it tells the gateway's share of an end-to-end latency.
 */
function gatewayQuantile(first, last, q) {
  const before = new Map(first.gateway.counters.pushLatencyBuckets ?? []);
  const buckets = (last.gateway.counters.pushLatencyBuckets ?? []).map(([le, count]) => [le === '+Inf' ? Infinity : Number(le) * 1000, count - (before.get(le) ?? 0)]);
  const total = buckets.length ? buckets[buckets.length - 1][1] : 0;
  if (total === 0) return NaN;
  return buckets.find(([, count]) => count >= q * total)?.[0] ?? NaN;
}

/** One row per whole minute of load: the gateway's figures and what subscribers measured. */
function minuteRows(samples) {
  const rows = [];
  for (let minute = 1; minute <= Math.ceil(options.minutes); minute++) {
    const inMinute = samples.filter((s) => s.t > (minute - 1) * 60 && s.t <= minute * 60 + 0.5);
    if (inMinute.length === 0) continue;
    const first = samples[samples.indexOf(inMinute[0]) - 1];
    const last = inMinute[inMinute.length - 1];
    const seconds = last.t - first.t;
    const latency = inMinute.reduce((histogram, s) => histogram.merge(new LatencyHistogram(s.load.latency)), new LatencyHistogram());
    const mean = (pick) => inMinute.reduce((sum, s) => sum + pick(s), 0) / inMinute.length;
    rows.push({
      minute,
      rssMiB: mean((s) => s.gateway.memory.rss) / MiB,
      rssMaxMiB: Math.max(...inMinute.map((s) => s.gateway.memory.rss)) / MiB,
      heapMiB: mean((s) => s.gateway.memory.heapUsed) / MiB,
      heapMaxMiB: Math.max(...inMinute.map((s) => s.gateway.memory.heapUsed)) / MiB,
      maxStallMs: Math.max(...inMinute.map((s) => s.gateway.maxStallMs)),
      loadMaxStallMs: Math.max(...inMinute.map((s) => s.load.maxStallMs)),
      maxGcMs: Math.max(...inMinute.map((s) => s.gateway.gc?.longestMs ?? 0)),
      // Share of the minute the gateway spent collecting garbage.
      gcShare: inMinute.reduce((sum, s) => sum + (s.gateway.gc?.totalMs ?? 0), 0) / ((last.t - first.t) * 1000),
      scavenges: inMinute.reduce((sum, s) => sum + (s.gateway.gc?.counts?.scavenge ?? 0), 0),
      // A full collection after incremental marking is reported as 'incremental', not 'mark-compact'.
      majorGcs: inMinute.reduce((sum, s) => sum + (s.gateway.gc?.counts?.['mark-compact'] ?? 0) + (s.gateway.gc?.counts?.incremental ?? 0), 0),
      pushP50Ms: latency.quantile(0.5),
      pushP99Ms: latency.quantile(0.99),
      pushSamples: latency.total,
      gatewayPushP99Ms: gatewayQuantile(first, last, 0.99),
      runsFinished: last.gateway.counters.runsFinal - first.gateway.counters.runsFinal,
      webhooksPerSec: (last.gateway.counters.webhooks - first.gateway.counters.webhooks) / seconds,
      cacheEntries: last.gateway.counters.cacheEntries,
      // Share of one core each process used.
      gatewayCpu: (last.gateway.cpuMs - first.gateway.cpuMs) / (seconds * 1000),
      loadCpu: (last.load.cpuMs - first.load.cpuMs) / (seconds * 1000),
    });
  }
  return rows;
}

function evaluate(rows, verify, simStats) {
  const after = rows.filter((row) => row.minute > 2);
  const sorted = after.map((row) => row.rssMiB).sort((a, b) => a - b);
  const plateau = sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)] : NaN;
  const deviation = after.length ? Math.max(...after.map((row) => Math.abs(row.rssMiB - plateau) / plateau)) : NaN;
  const second = rows.find((row) => row.minute === 2);
  const lastRow = rows[rows.length - 1];
  const p99Ratio = second && lastRow && lastRow !== second ? lastRow.pushP99Ms / second.pushP99Ms : NaN;
  const t = verify.totals;
  return {
    rssPlateauMiB: plateau,
    rssMaxDeviation: deviation,
    rssMet: after.length >= 2 ? deviation <= 0.05 : undefined,
    p99Ratio,
    p99Met: Number.isFinite(p99Ratio) ? p99Ratio <= 1.2 : undefined,
    lost: verify.lost,
    unfinished: verify.unfinished,
    duplicated: t.duplicateFinals,
    seqRegressions: t.seqRegressions,
    http5xx: t.http5xx,
    simWebhooksFailed: simStats.webhooks.failed,
    integrityMet: verify.lost === 0 && verify.unfinished === 0 && t.duplicateFinals === 0 && t.seqRegressions === 0 && t.http5xx === 0 && t.unexpectedFrames === 0 && t.closedConnections === 0 && simStats.webhooks.failed === 0,
  };
}

function table(rows) {
  const lines = [
    '| minute | RSS MiB | JS heap MiB | longest stall ms | longest GC pause ms | push p50 ms | push p99 ms | runs finished | webhooks/s |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of rows) {
    lines.push(`| ${row.minute} | ${fmt(row.rssMiB)} | ${fmt(row.heapMiB)} | ${fmt(row.maxStallMs)} | ${fmt(row.maxGcMs)} | ${fmt(row.pushP50Ms)} | ${fmt(row.pushP99Ms)} | ${fmt(row.runsFinished)} | ${fmt(row.webhooksPerSec)} |`);
  }
  return lines.join('\n');
}

function verdict(goals, verify) {
  const mark = (met) => (met === undefined ? 'n/a (run too short)' : met ? 'met' : '**not met**');
  const t = verify.totals;
  return [
    `- RSS after minute 2 within 5 % of its plateau (${fmt(goals.rssPlateauMiB)} MiB): largest deviation ${fmt(goals.rssMaxDeviation * 100, 2)} % — ${mark(goals.rssMet)}`,
    `- last minute's push p99 ≤ 1.2× the second minute's: ${fmt(goals.p99Ratio, 3)}× — ${mark(goals.p99Met)}`,
    `- load: ${t.runsStarted.toLocaleString('en-US')} runs started (${t.simRuns.toLocaleString('en-US')} through the simulator, ${t.syntheticRuns.toLocaleString('en-US')} synthetic), ${t.skipped} skipped with 2,000 requests in flight; answers other than 2xx and 5xx ${t.httpOther}, no answer ${t.httpFailed} (webhooks re-sent ${t.webhookRetries}), REST reads ${t.reads.toLocaleString('en-US')}`,
    `- every subscriber got every final state exactly once, seq order kept, no 5xx: ${verify.pairsChecked.toLocaleString('en-US')} (subscriber, run) pairs over ${verify.runsChecked.toLocaleString('en-US')} runs; lost ${verify.lost} (final at the gateway, not at the subscriber), not yet finished at the gateway after the drain ${verify.unfinished}, duplicate finals ${t.duplicateFinals}, seq regressions ${t.seqRegressions}, unexpected frames ${t.unexpectedFrames}, connections closed ${t.closedConnections}, 5xx ${t.http5xx}, simulator webhooks given up on (no 2xx within 10 s, 3 retries) ${goals.simWebhooksFailed} — ${mark(goals.integrityMet)}`,
  ].join('\n');
}

async function main() {
  build();
  mkdirSync(outDir, { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), 'rungate-soak-'));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
  const env = { date: new Date().toISOString(), cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, dist: DIST };
  log(
    `soak: ${options.minutes} min, ${options.webhooksPerSec} webhooks/s (${fmt(runsPerSec)} runs/s, ${options.simShare * 100} % through the simulator), ` +
      `${flows} flows × ${options.subscribersPerRun} subscribers on ${options.connections} ${options.transport} connections, store ${options.store}, seed ${options.seed}`,
  );
  const sim = startWorker('server-worker.js', {
    kind: 'sim',
    options: { runMs: options.runMs, failRate: options.failRate, webhookDropRate: options.dropRate, seed: options.seed },
  });
  let gateway;
  let load;
  try {
    const { url: simUrl, secret } = await sim.ready;
    gateway = startWorker('server-worker.js', { kind: 'rungate', store: storeSpec(dataDir), secret, upstreamUrl: `${simUrl}/api/v1`, args: options.gatewayArgs }, { timeoutMs: 120_000, execArgv: options.gatewayNodeArgs });
    const { url } = await gateway.ready;
    load = startWorker('soak-load-worker.js', {
      url,
      secret,
      transport: options.transport,
      flows,
      connections: options.connections,
      subscribersPerRun: options.subscribersPerRun,
      runsPerSec,
      simShare: options.simShare,
      failRate: options.failRate,
      runMs: options.runMs,
      waitShare: options.waitShare,
      readsPerSec: options.readsPerSec,
      tag: stamp.replace(/-/g, ''),
    });
    await load.ready;
    const connected = await load.ask({ type: 'connect' }, 300_000);
    log(`  ${connected.connected} connections, ${connected.subscriptions} subscriptions in ${Math.round(connected.ms)} ms`);

    // The sample before the load starts: the baseline of minute 1's counters.
    const samples = [{ t: 0, gateway: await gateway.ask({ type: 'sample' }), load: await load.ask({ type: 'sample' }) }];
    await load.ask({ type: 'start' });
    const startedAt = Date.now();
    const durationMs = options.minutes * 60_000;
    const snapshots = [];
    const pendingSnapshots = [...options.heapSnapshotMinutes].sort((a, b) => a - b);
    let minutesLogged = 0;
    let heapProfile;
    for (let next = options.sampleSeconds * 1000; next <= durationMs + 1; next += options.sampleSeconds * 1000) {
      const wait = startedAt + next - Date.now();
      if (wait > 0) await sleep(wait);
      const [gatewaySample, loadSample] = await Promise.all([gateway.ask({ type: 'sample' }), load.ask({ type: 'sample' })]);
      samples.push({ t: (Date.now() - startedAt) / 1000, gateway: gatewaySample, load: loadSample });
      const minute = Math.floor((next + 1) / 60_000);
      if (minute > minutesLogged) {
        minutesLogged = minute;
        const row = minuteRows(samples).find((r) => r.minute === minute);
        if (row) {
          log(
            `  minute ${minute}: RSS ${fmt(row.rssMiB)} MiB, heap ${fmt(row.heapMiB)} MiB, stall ${fmt(row.maxStallMs)} ms (GC: longest ${fmt(row.maxGcMs)} ms, ${fmt(row.gcShare * 100, 2)} % of the time, ${row.scavenges} scavenges, ${row.majorGcs} full), push p50 ${fmt(row.pushP50Ms)} p99 ${fmt(row.pushP99Ms)} ms (inside the gateway p99 ${row.gatewayPushP99Ms === Infinity ? '> 1,000' : `≤ ${fmt(row.gatewayPushP99Ms)}`} ms), ` +
              `${fmt(row.runsFinished)} runs finished, ${fmt(row.webhooksPerSec)} webhooks/s, cache ${row.cacheEntries}, CPU gateway ${fmt(row.gatewayCpu, 2)} load ${fmt(row.loadCpu, 2)}, load stall ${fmt(row.loadMaxStallMs)} ms, in flight ${loadSample.inFlight}`,
          );
        }
      }
      while (pendingSnapshots.length && next >= pendingSnapshots[0] * 60_000) {
        const at = pendingSnapshots.shift();
        const path = join(outDir, `soak-${stamp}-min${at}.heapsnapshot`);
        const took = Date.now();
        await gateway.ask({ type: 'snapshot', path }, 600_000);
        snapshots.push({ minute: at, path, ms: Date.now() - took });
        log(`  heap snapshot at minute ${at}: ${path} (${Math.round((Date.now() - took) / 1000)} s)`);
      }
      if (options.heapProfile && !heapProfile && next >= options.heapProfile[0] * 60_000) {
        const path = join(outDir, `soak-${stamp}-min${options.heapProfile[0]}.heapprofile`);
        heapProfile = gateway.ask({ type: 'heap-profile', path, seconds: options.heapProfile[1] }, options.heapProfile[1] * 1000 + 60_000);
        void heapProfile.then(() => log(`  heap profile from minute ${options.heapProfile[0]}: ${path}`), () => undefined); // a failure surfaces where it is awaited
      }
    }
    await heapProfile;
    await load.ask({ type: 'stop-load' });
    log(`  load stopped; waiting up to ${options.drainSeconds} s for the last runs to end and reach every subscriber…`);
    const verify = await load.ask({ type: 'verify', timeoutMs: options.drainSeconds * 1000 }, options.drainSeconds * 1000 + 60_000);
    const simStats = (await sim.ask({ type: 'sample' })).counters;
    if (verify.slowAnswers.length > 0) log(`  ${verify.totals.slowAnswers} answers took over 10 s, e.g. ${JSON.stringify(verify.slowAnswers)}`);
    if (verify.unanswered?.length > 0) log(`  requests with no answer (the first ${verify.unanswered.length}): ${JSON.stringify(verify.unanswered)}`);
    if (verify.serverErrors?.length > 0) log(`  5xx answers (the first ${verify.serverErrors.length}, the checker's own reads included): ${JSON.stringify(verify.serverErrors)}`);
    if (verify.lostRuns.length > 0) log(`  some runs without a final at a subscriber, with what the gateway says of them: ${JSON.stringify(verify.lostRuns)}`);
    const rows = minuteRows(samples);
    const goals = evaluate(rows, verify, simStats);
    const result = { env, options: { ...options, flows, runsPerSec }, rows, goals, verify, simStats, snapshots, samples };
    const base = join(outDir, `soak-${stamp}`);
    writeFileSync(`${base}.json`, JSON.stringify(result, null, 2));
    writeFileSync(`${base}.svg`, soakSvg(samples, rows, goals, {
        title: `rungate soak ${env.date.slice(0, 16)}: ${options.webhooksPerSec} webhooks/s, ${options.subscribers} subscribers, ${options.store}`,
        sampleSeconds: options.sampleSeconds,
        snapshotMinutes: snapshots.map((s) => s.minute),
      }));
    console.log(`Soak ${env.date}: ${env.cores} cores (${env.cpu}), Node ${env.node}${options.gatewayNodeArgs.length ? ` (gateway: node ${options.gatewayNodeArgs.join(' ')})` : ''}; ${options.minutes} min at ${options.webhooksPerSec} webhooks/s, ${options.subscribers} ${options.transport} subscribers, store ${options.store}.\n`);
    console.log(table(rows));
    console.log('');
    console.log(verdict(goals, verify));
    log(`wrote ${base}.json and ${base}.svg`);
    if (!goals.integrityMet || goals.rssMet === false || goals.p99Met === false) process.exitCode = 1;
  } finally {
    await load?.stop();
    await gateway?.stop();
    await sim.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
// Workers are gone; nothing should keep the process, but a stray handle must not hold the shell.
setTimeout(() => process.exit(), 1000).unref();
