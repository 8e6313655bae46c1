// Scenario 2, webhook ingest: verified and persisted webhooks per second with autocannon against
// rungate (memory store, SQLite store), a bare express server (express.json, 200) and a bare
// node:http server (read, JSON.parse, 200). Each server runs in its own process; autocannon runs
// here. Every request carries a pre-signed body for a distinct change (see signedPool), so
// rungate writes each one rather than answering duplicates.
/* global process */ // a Node script; the lint config has no Node globals for plain JS
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { median, signedPool, startWorker } from './bench-lib.js';

const SECRET = 'whsec_bench_ingest_0123456789abcdef';

export const TARGETS = [
  { name: 'rungate memory', kind: 'rungate', store: 'memory' },
  { name: 'rungate sqlite', kind: 'rungate', store: 'sqlite' },
  { name: 'bare express', kind: 'express' },
  { name: 'bare node:http', kind: 'http' },
];

function cannon(url, pool, { seconds, connections }) {
  let next = 0;
  return autocannon({
    url,
    connections,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        path: '/webhooks/doclo',
        setupRequest: (request) => {
          const item = pool[next++ % pool.length];
          return { ...request, body: item.body, headers: { 'content-type': 'application/json', 'x-doclo-signature': item.signature } };
        },
      },
    ],
  }).then((result) => ({ result, sent: next }));
}

/** One target: fresh server process, a warm-up on other ids, then the measured run. */
async function measure(target, pools, options, profileArgs, rep) {
  const dbPath = join(tmpdir(), `rungate-bench-${process.pid}-${rep}-${Date.now()}.db`);
  const spec = target.kind === 'rungate' ? { kind: 'rungate', store: target.store === 'sqlite' ? `sqlite:${dbPath}` : 'memory', secret: SECRET } : { kind: target.kind };
  const server = startWorker('server-worker.js', spec, { execArgv: profileArgs });
  try {
    const { url } = await server.ready;
    if (options.warmSeconds > 0) await cannon(url, pools.warm, { seconds: options.warmSeconds, connections: options.connections });
    const { result, sent } = await cannon(url, pools.main, options);
    return {
      target: target.name,
      requestsPerSec: result.requests.average,
      total: result.requests.total,
      latencyP50Ms: result.latency.p50,
      latencyP99Ms: result.latency.p99,
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
      // Past the pool's end requests repeat earlier changes: duplicates, cheaper for rungate.
      poolWrapped: sent > pools.main.length,
    };
  } finally {
    await server.stop();
    for (const suffix of ['', '-wal', '-shm']) rmSync(dbPath + suffix, { force: true });
  }
}

export async function run(options, log) {
  const { reps, seconds, connections, poolSize, warmSeconds = 1, profileArgs = [] } = options;
  const pools = { warm: signedPool(SECRET, Math.min(poolSize, 20_000), 'exec_warm_'), main: signedPool(SECRET, poolSize, 'exec_ingest_') };
  const raw = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const target of TARGETS) {
      const result = await measure(target, pools, { seconds, connections, warmSeconds }, target.kind === 'rungate' ? profileArgs : [], rep);
      log(`  ingest rep ${rep + 1}/${reps} ${target.name}: ${Math.round(result.requestsPerSec)} req/s, p99 ${result.latencyP99Ms} ms, non-2xx ${result.non2xx}, errors ${result.errors}`);
      raw.push({ rep, ...result });
    }
  }
  const med = (name, key) => median(raw.filter((r) => r.target === name).map((r) => r[key]));
  const byTarget = Object.fromEntries(
    TARGETS.map(({ name }) => [name, { requestsPerSec: med(name, 'requestsPerSec'), latencyP50Ms: med(name, 'latencyP50Ms'), latencyP99Ms: med(name, 'latencyP99Ms') }]),
  );
  // Ratio per repetition (same moment, same machine state), then the median of those.
  const ratioVs = (name, baseline) =>
    median(Array.from({ length: reps }, (_, rep) => {
      const mine = raw.find((r) => r.rep === rep && r.target === name);
      const base = raw.find((r) => r.rep === rep && r.target === baseline);
      return mine && base ? mine.requestsPerSec / base.requestsPerSec : NaN;
    }));
  const ratioVsExpress = (name) => ratioVs(name, 'bare express');
  const ratioVsHttp = (name) => ratioVs(name, 'bare node:http');
  const failures = raw.reduce((sum, r) => sum + r.non2xx + r.errors, 0);
  const memoryVsHttp = ratioVsHttp('rungate memory');
  const sqliteVsHttp = ratioVsHttp('rungate sqlite');
  const http = byTarget['bare node:http'].requestsPerSec;
  return {
    raw,
    summary: {
      byTarget,
      ratioMemoryVsHttp: memoryVsHttp,
      ratioSqliteVsHttp: sqliteVsHttp,
      ratioMemoryVsExpress: ratioVsExpress('rungate memory'),
      ratioSqliteVsExpress: ratioVsExpress('rungate sqlite'),
      ratioHttpVsExpress: ratioVsExpress('bare node:http'),
      failures,
    },
    rows: [
      { scenario: 'Webhook ingest', measure: 'webhooks/s, SQLite store (vs bare node:http)', rungate: byTarget['rungate sqlite'].requestsPerSec, baseline: http, ratio: sqliteVsHttp, goal: '≥ 0.5×', met: sqliteVsHttp >= 0.5 },
      { scenario: 'Webhook ingest', measure: 'webhooks/s, memory store (vs bare node:http)', rungate: byTarget['rungate memory'].requestsPerSec, baseline: http, ratio: memoryVsHttp, goal: '≥ 0.6×', met: memoryVsHttp >= 0.6 },
      { scenario: 'Webhook ingest', measure: 'bare express (vs bare node:http)', rungate: byTarget['bare express'].requestsPerSec, baseline: http, ratio: ratioVsHttp('bare express'), goal: 'reference' },
      { scenario: 'Webhook ingest', measure: 'latency p99 ms, SQLite store (vs bare node:http)', rungate: byTarget['rungate sqlite'].latencyP99Ms, baseline: byTarget['bare node:http'].latencyP99Ms, ratio: byTarget['rungate sqlite'].latencyP99Ms / byTarget['bare node:http'].latencyP99Ms, goal: '—' },
    ],
  };
}
