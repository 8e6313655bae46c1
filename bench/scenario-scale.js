// Scenario "scale": how costs grow with the amount of state, as curves (size → figure), each
// printed as a small table of its own; the largest size of each is a row of the main table.
//   restart  N unfinished runs in the store (SQLite, PostgreSQL) → time to `listening` and the
//            longest event-loop stall while resuming (goal at 100k: ≤ 3 s and ≤ 100 ms)
//   list     N stored runs → p99 of GET /api/v1/runs with each filter (goal ≤ 20 ms at 1M)
//   prune    N finished runs past retention → the longest stall while pruning (goal ≤ 100 ms)
//   budget   N tracked runs, every webhook lost, two gateways under one Doclo rate limit →
//            recovery p50/p99, GETs, 429s (goal: never exceed the budget; bench/scale-budget.js)
// Stores are seeded straight into a file or database made for the bench (bench/scale-seed.js)
// and removed afterwards. Each measured gateway or store runs in its own process.
/* global URL, Buffer */ // a Node script; the lint config has no Node globals for plain JS
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fmt, median, now, percentile, startWorker } from './bench-lib.js';
import { budgetCurve } from './scale-budget.js';
import { seedPostgres, seedSqlite } from './scale-seed.js';

const SECRET = 'whsec_bench_scale_0123456789abcdef';
const JWT_SECRET = 'bench-scale-jwt-secret-0123456789abcdef0123456789';
const DAY_MS = 24 * 3600_000;
const STORE_TITLES = { sqlite: 'SQLite', postgres: 'PostgreSQL' };

/** Where a store of `count` runs of `kind` lives for one measurement, and how it goes away. */
async function seeded(kind, store, count, options, updatedAtMs) {
  const started = now();
  let prepared;
  if (store === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'rungate-scale-'));
    const path = join(dir, 'runs.db');
    await seedSqlite(path, count, kind, updatedAtMs);
    prepared = { store: `sqlite:${path}`, cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })) };
  } else {
    const { url, drop } = await seedPostgres(options.postgresUrl, count, kind, updatedAtMs);
    prepared = { store: url, cleanup: drop };
  }
  prepared.seedMs = now() - started;
  return prepared;
}

function curveTable(title, header, lines) {
  return [`**${title}**`, '', `| ${header.join(' | ')} |`, `|${header.map((_, i) => (i === 0 ? '---:' : '---:')).join('|')}|`, ...lines.map((cells) => `| ${cells.join(' | ')} |`)].join('\n');
}

async function restartCurve(options, log) {
  const points = [];
  for (const store of options.stores) {
    for (const size of options.restartSizes) {
      const prepared = await seeded('unfinished', store, size, options, Date.now());
      log(`  restart ${STORE_TITLES[store]} ${size}: seeded in ${Math.round(prepared.seedMs)} ms`);
      const reps = [];
      try {
        for (let rep = 0; rep < options.reps; rep++) {
          const worker = startWorker('scale-worker.js', { job: 'restart', store: prepared.store, secret: SECRET, afterMs: options.smoke ? 300 : 2000 }, { timeoutMs: 180_000 });
          try {
            reps.push(await worker.ready);
          } finally {
            await worker.stop();
          }
          const last = reps[reps.length - 1];
          log(`    rep ${rep + 1}: listening after ${last.startupMs.toFixed(0)} ms (resuming ${last.resumeMs.toFixed(0)} ms, ${last.resumed} runs), longest stall resuming ${last.resumeStallMs.toFixed(1)} ms, whole start ${last.startupStallMs.toFixed(1)} ms, next ${options.smoke ? 0.3 : 2} s ${last.afterStallMs.toFixed(1)} ms`);
        }
      } finally {
        await prepared.cleanup();
      }
      points.push({
        store,
        size,
        seedMs: prepared.seedMs,
        reps,
        startupMs: median(reps.map((r) => r.startupMs)),
        resumeMs: median(reps.map((r) => r.resumeMs)),
        stallMs: median(reps.map((r) => r.resumeStallMs)),
        startupStallMs: median(reps.map((r) => r.startupStallMs)),
        afterStallMs: median(reps.map((r) => r.afterStallMs)),
        resumed: median(reps.map((r) => r.resumed)),
      });
    }
  }
  const table = curveTable(
    'Restart with N unfinished runs (medians): time to `listening` (of it, resuming), longest event-loop stall while resuming, over the whole start, and in the 2 s after (first polls)',
    ['unfinished runs', 'store', 'to listening, ms', 'resuming, ms', 'stall while resuming, ms', 'stall, whole start, ms', 'stall in the 2 s after, ms', 'resumed'],
    points.map((p) => [fmt(p.size), STORE_TITLES[p.store], fmt(p.startupMs), fmt(p.resumeMs), fmt(p.stallMs), fmt(p.startupStallMs), fmt(p.afterStallMs), fmt(p.resumed)]),
  );
  const rows = [];
  const largest = Math.max(...options.restartSizes);
  for (const p of points.filter((point) => point.size === largest)) {
    const scenario = `Scale: restart (${STORE_TITLES[p.store]})`;
    rows.push(
      { scenario, measure: `${fmt(p.size)} unfinished runs: time to listening, ms`, rungate: p.startupMs, goal: '≤ 3,000 ms at 100k', met: p.size >= 100_000 ? p.startupMs <= 3000 : undefined },
      { scenario, measure: `${fmt(p.size)} unfinished runs: longest stall while resuming, ms`, rungate: p.stallMs, goal: '≤ 100 ms at 100k', met: p.size >= 100_000 ? p.stallMs <= 100 : undefined },
    );
  }
  return { points, table, rows };
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function get(url, headers) {
  const target = new URL(url);
  return new Promise((done, fail) => {
    const req = request({ agent, host: target.hostname, port: target.port, path: `${target.pathname}${target.search}`, headers }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => done({ status: res.statusCode, body: Buffer.concat(chunks).toString() }));
      res.on('error', fail);
    });
    req.on('error', fail);
    req.end();
  });
}

async function tokens() {
  const { SignJWT } = await import('jose');
  const key = new TextEncoder().encode(JWT_SECRET);
  const mint = (claims) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject(claims.sub).setExpirationTime('2h').sign(key);
  return { admin: await mint({ sub: 'bench-admin', admin: true }), owner: await mint({ sub: 'owner-7' }) };
}

/** Filters of the list route: the query, and whose token (owner-7 is filtered to its own runs). */
const FILTERS = [
  { name: 'none', query: '', as: 'admin' },
  { name: 'flowId', query: 'flowId=flow-3', as: 'admin' },
  { name: 'status (1 %)', query: 'status=failed', as: 'admin' },
  { name: 'flowId + status', query: 'flowId=flow-0&status=failed', as: 'admin' },
  { name: 'owner', query: '', as: 'owner' },
  { name: 'owner + status', query: 'status=failed', as: 'owner' },
];

async function listCurve(options, log) {
  const tokenOf = await tokens();
  const points = [];
  for (const store of options.stores) {
    for (const size of options.listSizes) {
      const prepared = await seeded('finished', store, size, options, Date.now() - DAY_MS);
      log(`  list ${STORE_TITLES[store]} ${size}: seeded in ${Math.round(prepared.seedMs)} ms`);
      const server = startWorker('server-worker.js', { kind: 'rungate', store: prepared.store, secret: SECRET, args: ['--jwt-secret', JWT_SECRET, '--rate-limit-per-ip', '0', '--rate-limit-per-owner', '0'] }, { timeoutMs: 300_000 });
      try {
        const { url } = await server.ready;
        const byFilter = {};
        for (const filter of FILTERS) {
          const headers = { authorization: `Bearer ${tokenOf[filter.as]}` };
          const target = `${url}/api/v1/runs${filter.query ? `?${filter.query}` : ''}`;
          const first = await get(target, headers);
          if (first.status !== 200) throw new Error(`GET ${target} answered ${first.status}: ${first.body.slice(0, 200)}`);
          const count = JSON.parse(first.body).data.length;
          for (let i = 0; i < options.listWarmup; i++) await get(target, headers);
          const times = [];
          for (let i = 0; i < options.listRequests; i++) {
            const at = now();
            await get(target, headers);
            times.push(now() - at);
          }
          byFilter[filter.name] = { p50: percentile(times, 50), p99: percentile(times, 99), count };
        }
        const line = Object.entries(byFilter).map(([name, f]) => `${name} ${f.p99.toFixed(1)}`).join(', ');
        log(`    p99 ms: ${line}`);
        points.push({ store, size, seedMs: prepared.seedMs, byFilter });
      } finally {
        await server.stop();
        await prepared.cleanup();
      }
    }
  }
  const table = curveTable(
    `GET /api/v1/runs (a page of 50), p99 ms of ${options.listRequests} sequential requests per filter, by stored runs`,
    ['stored runs', 'store', ...FILTERS.map((f) => f.name)],
    points.map((p) => [fmt(p.size), STORE_TITLES[p.store], ...FILTERS.map((f) => fmt(p.byFilter[f.name].p99))]),
  );
  const rows = [];
  const largest = Math.max(...options.listSizes);
  for (const p of points.filter((point) => point.size === largest)) {
    const worst = Math.max(...FILTERS.map((f) => p.byFilter[f.name].p99));
    const which = FILTERS.find((f) => p.byFilter[f.name].p99 === worst).name;
    rows.push({
      scenario: `Scale: list (${STORE_TITLES[p.store]})`,
      measure: `${fmt(p.size)} stored runs: worst filter's p99, ms (${which}; none ${fmt(p.byFilter.none.p99)})`,
      rungate: worst,
      goal: '≤ 20 ms at 1M',
      met: p.size >= 1_000_000 ? worst <= 20 : undefined,
    });
  }
  return { points, table, rows };
}

async function pruneCurve(options, log) {
  const points = [];
  for (const store of options.stores) {
    for (const size of options.pruneSizes) {
      const written = Date.now() - 60 * DAY_MS;
      const prepared = await seeded('finished', store, size, options, written);
      log(`  prune ${STORE_TITLES[store]} ${size}: seeded in ${Math.round(prepared.seedMs)} ms`);
      try {
        const worker = startWorker('scale-worker.js', { job: 'prune', store: prepared.store, beforeMs: written + DAY_MS }, { timeoutMs: 600_000 });
        try {
          const result = await worker.ready;
          if (result.removed !== size) throw new Error(`pruned ${result.removed} of ${size}`);
          log(`    pruned ${result.removed} in ${Math.round(result.pruneMs)} ms, longest stall ${result.stallMs.toFixed(1)} ms`);
          points.push({ store, size, seedMs: prepared.seedMs, ...result });
        } finally {
          await worker.stop();
        }
      } finally {
        await prepared.cleanup();
      }
    }
  }
  const table = curveTable(
    'Pruning N finished runs past retention (one run each): duration and the longest event-loop stall meanwhile',
    ['finished runs', 'store', 'pruning took, ms', 'longest stall, ms'],
    points.map((p) => [fmt(p.size), STORE_TITLES[p.store], fmt(p.pruneMs), fmt(p.stallMs)]),
  );
  const largest = Math.max(...options.pruneSizes);
  const rows = points
    .filter((p) => p.size === largest)
    .map((p) => ({
      scenario: `Scale: prune (${STORE_TITLES[p.store]})`,
      measure: `${fmt(p.size)} finished runs: longest stall, ms (took ${fmt(p.pruneMs / 1000)} s)`,
      rungate: p.stallMs,
      goal: '≤ 100 ms at 1M',
      met: p.size >= 1_000_000 ? p.stallMs <= 100 : undefined,
    }));
  return { points, table, rows };
}

const PARTS = { restart: restartCurve, list: listCurve, prune: pruneCurve, budget: budgetCurve };

export async function run(options, log) {
  for (const part of options.parts) if (!(part in PARTS)) throw new Error(`unknown scale part ${part}; known: ${Object.keys(PARTS).join(', ')}`);
  for (const store of options.stores) if (!(store in STORE_TITLES)) throw new Error(`unknown scale store ${store}; known: ${Object.keys(STORE_TITLES).join(', ')}`);
  const raw = {};
  const rows = [];
  const tables = [];
  for (const part of options.parts) {
    log(` scale: ${part}`);
    const result = await PARTS[part](options, log);
    raw[part] = result.points;
    rows.push(...result.rows);
    tables.push(result.table);
  }
  agent.destroy();
  return { raw, rows, tables };
}
