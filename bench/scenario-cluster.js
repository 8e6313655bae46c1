// Scenario 5, cluster: two gateways sharing one Redis (a unique key prefix per run). Webhooks go
// to instance A at a steady rate; subscribers (flowId "*") sit on B — the cross-instance push
// latency — and, as the baseline in the same run, on A itself. Latency is from the POST to A to
// the frame's receipt, on the client process's clock.
/* global process */ // a Node script; the lint config has no Node globals for plain JS
import { randomBytes } from 'node:crypto';
import { median, ratio, startWorker } from './bench-lib.js';

const SECRET = 'whsec_bench_cluster_0123456789abcdef';
const RATE = 100;
const SUBSCRIBERS = 5;

async function deletePrefix(redisUrl, prefix) {
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

export async function run(options, log) {
  const raw = [];
  for (let rep = 0; rep < options.reps; rep++) {
    const prefix = `rungate-bench:${process.pid}-${randomBytes(4).toString('hex')}:`;
    const spec = { kind: 'rungate', store: options.redisUrl, secret: SECRET, args: ['--redis-prefix', prefix] };
    const a = startWorker('server-worker.js', spec);
    const b = startWorker('server-worker.js', spec);
    try {
      const [{ url: urlA }, { url: urlB }] = await Promise.all([a.ready, b.ready]);
      const same = await paced(urlA, urlA, options.messages, `exec_same_${rep}_`);
      const cross = await paced(urlB, urlA, options.messages, `exec_cross_${rep}_`);
      log(`  cluster rep ${rep + 1}/${options.reps}: A→A p50 ${same.p50.toFixed(2)} p99 ${same.p99.toFixed(2)} ms; A→B p50 ${cross.p50.toFixed(2)} p99 ${cross.p99.toFixed(2)} ms (${cross.received}/${cross.expected})`);
      raw.push({ rep, same, cross });
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      await deletePrefix(options.redisUrl, prefix).catch((error) => log(`  could not delete ${prefix}*: ${error.message}`));
    }
  }
  const med = (pick) => median(raw.map(pick));
  const p50 = { cross: med((r) => r.cross.p50), same: med((r) => r.same.p50) };
  const p99 = { cross: med((r) => r.cross.p99), same: med((r) => r.same.p99) };
  const lost = raw.reduce((sum, r) => sum + (r.cross.expected - r.cross.received) + (r.same.expected - r.same.received), 0);
  return {
    raw,
    summary: { p50, p99, lost },
    rows: [
      { scenario: 'Cluster (Redis)', measure: `webhook on A → subscriber on B, p50 ms, ${RATE}/s (vs subscriber on A)`, rungate: p50.cross, baseline: p50.same, ratio: ratio(p50.cross, p50.same), goal: '—' },
      { scenario: 'Cluster (Redis)', measure: `webhook on A → subscriber on B, p99 ms, ${RATE}/s (vs subscriber on A)`, rungate: p99.cross, baseline: p99.same, ratio: ratio(p99.cross, p99.same), goal: 'every frame arrives', met: lost === 0 },
    ],
  };
}
