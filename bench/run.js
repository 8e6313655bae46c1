// `npm run bench`: every scenario with its baseline in the same run, several repetitions; raw JSON
// to bench/results/<date>-<scenario>.json and a markdown table of medians and ratios on stdout.
//
//   node bench/run.js [--scenarios waiting,ingest,fanout,memory,cluster,relay] [--reps 3] [--smoke]
//                     [--no-build] [--profile] [size flags, see bench/README.md]
//
// bench/run.sh raises the open-file limit first (10k sockets on each side) and then runs this.
/* global process, console */ // a Node script; the lint config has no Node globals for plain JS
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { assertBuilt, BENCH_DIR, DIST, fmt, ROOT } from './bench-lib.js';

const { values: flags } = parseArgs({
  options: {
    scenarios: { type: 'string', default: 'waiting,ingest,fanout,memory,cluster,relay,scale' },
    reps: { type: 'string' },
    smoke: { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    out: { type: 'string' },
    // waiting
    runs: { type: 'string' },
    waiters: { type: 'string' },
    'run-ms': { type: 'string' },
    'drop-rates': { type: 'string' },
    'learn-runs': { type: 'string' },
    // ingest
    seconds: { type: 'string' },
    connections: { type: 'string' },
    'pool-size': { type: 'string' },
    'warm-seconds': { type: 'string' },
    // fan-out
    sockets: { type: 'string' },
    bursts: { type: 'string' },
    'stream-seconds': { type: 'string' },
    'paced-rate': { type: 'string' },
    'paced-seconds': { type: 'string' },
    'paced-sockets': { type: 'string' },
    // memory
    'idle-sockets': { type: 'string' },
    'tracked-runs': { type: 'string' },
    'warm-runs': { type: 'string' },
    // cluster
    'cluster-messages': { type: 'string' },
    'redis-url': { type: 'string' },
    'postgres-url': { type: 'string' },
    'cluster-stores': { type: 'string' },
    // scale
    'scale-parts': { type: 'string' },
    'scale-stores': { type: 'string' },
    'scale-large': { type: 'boolean', default: false },
    'restart-sizes': { type: 'string' },
    'list-sizes': { type: 'string' },
    'prune-sizes': { type: 'string' },
    'budget-sizes': { type: 'string' },
    'budget-per-minute': { type: 'string' },
    'budget-run-ms': { type: 'string' },
    // relay
    deliveries: { type: 'string' },
    'paced-runs': { type: 'string' },
    'relay-paced-rate': { type: 'string' },
    'lost-runs': { type: 'string' },
  },
});

const smoke = flags.smoke;
const num = (name, normal, tiny) => Number(flags[name] ?? (smoke ? tiny : normal));
const list = (name, normal, tiny) => String(flags[name] ?? (smoke ? tiny : normal)).split(',').map(Number);
const reps = num('reps', 3, 1);
const profileDir = join(BENCH_DIR, 'results', 'profiles');
const profileArgs = flags.profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
const outDir = flags.out ?? process.env.RUNGATE_BENCH_RESULTS ?? join(BENCH_DIR, 'results');

const scenarioOptions = {
  waiting: { reps, runs: num('runs', 200, 3), waiters: num('waiters', 5, 2), runMs: num('run-ms', 3000, 300), dropRates: list('drop-rates', '0,0.3,1', '0,1'), learnRuns: num('learn-runs', 40, 3), smoke },
  ingest: { reps, seconds: num('seconds', 5, 1), connections: num('connections', 50, 10), poolSize: num('pool-size', 200_000, 5000), warmSeconds: num('warm-seconds', 1, 0), profileArgs },
  fanout: {
    reps,
    sockets: num('sockets', 10_000, 50),
    bursts: num('bursts', 5, 2),
    streamSeconds: num('stream-seconds', 5, 1),
    pacedRate: num('paced-rate', 1000, 100),
    pacedSeconds: num('paced-seconds', 3, 1),
    pacedSockets: num('paced-sockets', 10, 5),
    profileArgs,
  },
  memory: { reps, idleSockets: num('idle-sockets', 10_000, 50), trackedRuns: list('tracked-runs', '10000,100000', '200'), warmRuns: num('warm-runs', 5000, 100) },
  cluster: {
    reps,
    messages: num('cluster-messages', 200, 20),
    stores: String(flags['cluster-stores'] ?? 'redis,postgres').split(',').map((s) => s.trim()).filter(Boolean),
    redisUrl: flags['redis-url'] ?? process.env.RUNGATE_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
    // The server's maintenance database: each repetition creates (and drops) a database of its own there.
    postgresUrl: flags['postgres-url'] ?? process.env.RUNGATE_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  },
  // The 1M sizes (list, prune) only with --scale-large: seeding and pruning them takes minutes.
  scale: {
    reps,
    smoke,
    parts: String(flags['scale-parts'] ?? 'restart,list,prune,budget').split(',').map((s) => s.trim()).filter(Boolean),
    stores: String(flags['scale-stores'] ?? 'sqlite,postgres').split(',').map((s) => s.trim()).filter(Boolean),
    restartSizes: list('restart-sizes', '1000,10000,100000', '200'),
    listSizes: list('list-sizes', flags['scale-large'] ? '10000,100000,1000000' : '10000,100000', '1000'),
    pruneSizes: list('prune-sizes', flags['scale-large'] ? '100000,1000000' : '100000', '1000'),
    // Recovery under a budget: at 1,000/min the 10k point alone takes over 10 minutes, so the
    // default curve stops at 1k (--budget-sizes 1000,10000 for the full one).
    budgetSizes: list('budget-sizes', '100,1000', '20'),
    budgetPerMinute: num('budget-per-minute', 1000, 600),
    budgetRunMs: num('budget-run-ms', 3000, 300),
    redisUrl: flags['redis-url'] ?? process.env.RUNGATE_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379',
    listRequests: smoke ? 20 : 200,
    listWarmup: smoke ? 2 : 20,
    postgresUrl: flags['postgres-url'] ?? process.env.RUNGATE_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  },
};

scenarioOptions.relay = {
  reps,
  deliveries: num('deliveries', 5000, 200),
  pacedRuns: num('paced-runs', 300, 30),
  pacedRate: num('relay-paced-rate', 100, 100),
  lostRuns: num('lost-runs', 20, 3),
  runMs: num('run-ms', 3000, 300),
  profileArgs,
};

const log = (line) => console.error(line);

function build() {
  if (flags['no-build'] || process.env.RUNGATE_BENCH_DIST) return assertBuilt();
  log('building (npm run build)…');
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  // tsc emits even when some file fails to type-check; only a missing build is fatal.
  if (result.status !== 0) log('warning: the build reported type errors; benchmarking what it emitted');
  assertBuilt();
}

function versions() {
  const of = (name) => JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  return { node: process.version, express: of('express'), ws: of('ws'), 'better-sqlite3': of('better-sqlite3'), autocannon: of('autocannon'), ioredis: of('ioredis'), pg: of('pg') };
}

function table(rows, env) {
  const lines = [
    `Date ${env.date}; ${env.cores} cores (${env.cpu}); Node ${env.versions.node}; express ${env.versions.express}, ws ${env.versions.ws}, better-sqlite3 ${env.versions['better-sqlite3']}, autocannon ${env.versions.autocannon}; medians of ${reps} repetition(s).`,
    '',
    '| scenario | measure | rungate | baseline | ratio | goal | met |',
    '|---|---|---:|---:|---:|---|---|',
  ];
  for (const row of rows) {
    const met = row.met === undefined ? '' : row.met ? 'yes' : '**no**';
    lines.push(`| ${row.scenario} | ${row.measure} | ${fmt(row.rungate)} | ${row.baselineText ?? fmt(row.baseline)} | ${row.ratio === undefined ? '' : `${fmt(row.ratio, 2)}×`} | ${row.goal ?? ''} | ${met} |`);
  }
  return lines.join('\n');
}

build();
const env = {
  date: new Date().toISOString(),
  cores: cpus().length,
  cpu: cpus()[0]?.model ?? 'unknown',
  versions: versions(),
  dist: DIST,
  smoke,
};
mkdirSync(outDir, { recursive: true });
if (flags.profile) mkdirSync(profileDir, { recursive: true });
const day = env.date.slice(0, 10);
const rows = [];
const tables = [];
const failures = [];
for (const name of flags.scenarios.split(',').map((s) => s.trim()).filter(Boolean)) {
  if (!(name in scenarioOptions)) throw new Error(`unknown scenario ${name}; known: ${Object.keys(scenarioOptions).join(', ')}`);
  log(`scenario ${name}…`);
  const started = Date.now();
  try {
    const scenario = await import(`./scenario-${name}.js`);
    const result = await scenario.run(scenarioOptions[name], log);
    rows.push(...result.rows);
    tables.push(...(result.tables ?? []));
    writeFileSync(join(outDir, `${day}-${name}.json`), JSON.stringify({ env, options: scenarioOptions[name], ...result }, null, 2));
    log(`scenario ${name} done in ${Math.round((Date.now() - started) / 1000)} s`);
  } catch (error) {
    failures.push(name);
    log(`scenario ${name} failed: ${error instanceof Error ? error.stack : String(error)}`);
  }
}
console.log(table(rows, env));
// Curves (size → figure) come after the main table, one small table each.
for (const curve of tables) console.log(`\n${curve}`);
if (flags.profile) log(`CPU profiles in ${profileDir}; summarise with: node bench/profile-summary.js <file.cpuprofile>`);
if (failures.length > 0) {
  log(`failed scenarios: ${failures.join(', ')}`);
  process.exitCode = 1;
}
