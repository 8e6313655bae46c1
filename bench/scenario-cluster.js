// Scenario 5, cluster: two gateways sharing one store — Redis (a unique key prefix per
// repetition) and PostgreSQL (a database of its own per repetition) — side by side. Webhooks go
// to instance A at a steady rate; subscribers (flowId "*") sit on B — the cross-instance push
// latency — and on A itself. The baseline, in the same run, is one instance on its own (memory
// store, in-process bus). Latency is from the POST to A to the frame's receipt, on the client
// process's clock.
/* global process */ // a Node script; the lint config has no Node globals for plain JS
import { randomBytes } from 'node:crypto';
import { median, ratio, startWorker } from './bench-lib.js';

const SECRET = 'whsec_bench_cluster_0123456789abcdef';
const RATE = 100;
const SUBSCRIBERS = 5;

export async function deletePrefix(redisUrl, prefix) {
  const { Redis } = await import('ioredis');
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** Runs `sql` on the server of `adminUrl` (its maintenance database). */
async function adminQuery(adminUrl, sql) {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** The stores a repetition can put its two instances on: the serve flags and how to clean up. */
const STORES = {
  redis: {
    title: 'Redis',
    prepare(options) {
      const prefix = `rungate-bench:${process.pid}-${randomBytes(4).toString('hex')}:`;
      return Promise.resolve({ store: options.redisUrl, args: ['--redis-prefix', prefix], cleanup: () => deletePrefix(options.redisUrl, prefix) });
    },
  },
  postgres: {
    title: 'PostgreSQL',
    async prepare(options) {
      const name = `rungate_bench_${process.pid}_${randomBytes(4).toString('hex')}`;
      await adminQuery(options.postgresUrl, `CREATE DATABASE ${name}`);
      const url = new URL(options.postgresUrl);
      url.pathname = `/${name}`;
      return { store: url.toString(), args: [], cleanup: () => adminQuery(options.postgresUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
    },
  },
};

async function paced(subscribeUrl, postUrl, messages, prefix) {
  const clients = startWorker('ws-client-worker.js', { wsUrl: `${subscribeUrl.replace('http', 'ws')}/ws`, count: SUBSCRIBERS, subscribe: { op: 'subscribe', flowId: '*' }, postUrl, secret: SECRET });
  try {
    await clients.ready;
    await clients.ask({ type: 'connect' });
    // A short unmeasured warm-up, then the measured stream.
    await clients.ask({ type: 'paced', rate: RATE, durationMs: 500, prefix: `${prefix}warm_` });
    return await clients.ask({ type: 'paced', rate: RATE, durationMs: (messages / RATE) * 1000, prefix }, 120_000);
  } finally {
    await clients.stop();
  }
}

/** One instance on its own: the baseline every cluster is compared with. */
async function single(options, rep) {
  const server = startWorker('server-worker.js', { kind: 'rungate', store: 'memory', secret: SECRET });
  try {
    const { url } = await server.ready;
    return await paced(url, url, options.messages, `exec_single_${rep}_`);
  } finally {
    await server.stop();
  }
}

async function cluster(kind, options, rep) {
  const prepared = await STORES[kind].prepare(options);
  const spec = { kind: 'rungate', store: prepared.store, secret: SECRET, args: prepared.args };
  // One first: the second then finds the schema (PostgreSQL) in place rather than waiting on its lock.
  const a = startWorker('server-worker.js', spec);
  try {
    const { url: urlA } = await a.ready;
    const b = startWorker('server-worker.js', spec);
    try {
      const { url: urlB } = await b.ready;
      const same = await paced(urlA, urlA, options.messages, `exec_${kind}_same_${rep}_`);
      const cross = await paced(urlB, urlA, options.messages, `exec_${kind}_cross_${rep}_`);
      return { same, cross };
    } finally {
      await b.stop();
    }
  } finally {
    await a.stop();
    await prepared.cleanup();
  }
}

export async function run(options, log) {
  for (const kind of options.stores) if (!(kind in STORES)) throw new Error(`unknown cluster store ${kind}; known: ${Object.keys(STORES).join(', ')}`);
  const raw = [];
  for (let rep = 0; rep < options.reps; rep++) {
    const one = await single(options, rep);
    const entry = { rep, single: one };
    log(`  cluster rep ${rep + 1}/${options.reps}: one instance p50 ${one.p50.toFixed(2)} p99 ${one.p99.toFixed(2)} ms (${one.received}/${one.expected})`);
    for (const kind of options.stores) {
      const { same, cross } = await cluster(kind, options, rep);
      entry[kind] = { same, cross };
      log(`    ${STORES[kind].title}: A→A p50 ${same.p50.toFixed(2)} p99 ${same.p99.toFixed(2)} ms; A→B p50 ${cross.p50.toFixed(2)} p99 ${cross.p99.toFixed(2)} ms (${cross.received}/${cross.expected})`);
    }
    raw.push(entry);
  }
  const med = (pick) => median(raw.map(pick));
  const lostOf = (r) => r.expected - r.received;
  const summary = { single: { p50: med((r) => r.single.p50), p99: med((r) => r.single.p99) } };
  const rows = [];
  for (const kind of options.stores) {
    const p50 = { cross: med((r) => r[kind].cross.p50), same: med((r) => r[kind].same.p50) };
    const p99 = { cross: med((r) => r[kind].cross.p99), same: med((r) => r[kind].same.p99) };
    const lost = raw.reduce((sum, r) => sum + lostOf(r[kind].cross) + lostOf(r[kind].same), 0);
    summary[kind] = { p50, p99, lost };
    const scenario = `Cluster (${STORES[kind].title})`;
    // Per repetition (the cluster and its baselines minutes apart), then the median.
    const ratios = (field, base) => median(raw.map((r) => ratio(r[kind].cross[field], base(r)[field])));
    const sameRatio = ratios('p99', (r) => r[kind].same);
    summary[kind].crossOverSame = { p50: ratios('p50', (r) => r[kind].same), p99: sameRatio };
    rows.push(
      { scenario, measure: `webhook on A → subscriber on B, p50 ms, ${RATE}/s (vs one instance; on A: ${p50.same.toFixed(2)})`, rungate: p50.cross, baseline: summary.single.p50, ratio: ratios('p50', (r) => r.single), goal: '—' },
      { scenario, measure: `webhook on A → subscriber on B, p99 ms, ${RATE}/s (vs one instance)`, rungate: p99.cross, baseline: summary.single.p99, ratio: ratios('p99', (r) => r.single), goal: 'every frame arrives', met: lost === 0 },
      // Goal 8: what crossing instances adds over the same cluster's own instance.
      { scenario, measure: `cross-instance p99 vs same-instance (subscriber on A) p99, ms, ${RATE}/s`, rungate: p99.cross, baseline: p99.same, ratio: sameRatio, goal: '≤ 1.2×', met: sameRatio <= 1.2 },
    );
  }
  return { raw, summary, rows };
}
