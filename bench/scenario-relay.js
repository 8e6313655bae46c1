// Scenario 6, relay: the final state delivered to the caller's own webhookUrl (contract
// section 8), with the SQLite store. Three measures, each against a receiver in this process:
// - deliveries/s: N runs started through the gateway with a webhookUrl (on a simulator whose runs
//   outlast the test), then N signed `success` webhooks posted at once; from the first POST to
//   the last delivery received.
// - added latency: paced webhooks to the gateway, time from the POST (the webhook's arrival, on
//   loopback) to the receiver getting the delivery — side by side, in the same repetition, with
//   the same signed bodies posted straight to the same receiver (the path Doclo's own webhook
//   would take without the gateway).
// - every webhook lost: runs on a simulator that drops every webhook (default poll settings);
//   time from each run's completedAt to its delivery (goal: within 10 s).
/* global Buffer, performance */ // a Node script; the lint config has no Node globals for plain JS
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPoster, median, now, percentile, pool, ratio, sign, sleep, startWorker, webhookBody } from './bench-lib.js';

const SECRET = 'whsec_bench_relay_0123456789abcdef';

/** A receiver that answers 200 and notes when each run's delivery arrived (this process's clock). */
async function startReceiver() {
  const arrivals = new Map();
  let count = 0;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const at = now();
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      count++;
      if (!arrivals.has(body.data.id)) arrivals.set(body.data.id, { at, completedAt: body.data.completedAt });
      res.writeHead(200).end();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${server.address().port}/hooks`,
    arrivals,
    count: () => count,
    close: () => new Promise((done) => {
      server.closeAllConnections();
      server.close(done);
    }),
  };
}

async function waitUntil(check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

async function startRuns(poster, gatewayUrl, count, webhookUrl) {
  const ids = [];
  const body = JSON.stringify({ input: { document: { base64: Buffer.from('%PDF-1.4 relay').toString('base64'), mimeType: 'application/pdf' } }, webhookUrl });
  await pool(count, 16, async () => {
    const answer = await poster.post(`${gatewayUrl}/api/v1/flows/bench-flow/run`, body);
    if (answer.status !== 200) throw new Error(`start answered ${answer.status}: ${answer.body}`);
    ids.push(JSON.parse(answer.body).id);
  });
  return ids;
}

async function oneRep(options, rep, dir) {
  const receiver = await startReceiver();
  const poster = createPoster(64);
  const sim = startWorker('server-worker.js', { kind: 'sim', options: { runMs: 600_000, failRate: 0, webhookDropRate: 1, webhookSecret: SECRET, seed: rep + 1 } });
  const { url: simUrl } = await sim.ready;
  const store = `sqlite:${join(dir, `relay-${rep}.db`)}`;
  const gateway = startWorker('server-worker.js', { kind: 'rungate', store, secret: SECRET, upstreamUrl: `${simUrl}/api/v1`, args: ['--relay-allow-private', '--rate-limit-per-ip', '0'] }, { execArgv: options.profileArgs ?? [] });
  try {
    const { url } = await gateway.ready;
    // Deliveries/s: everything final at once.
    const ids = await startRuns(poster, url, options.deliveries, receiver.url);
    const bodies = ids.map((id) => webhookBody(id, 'success'));
    const t0 = now();
    await pool(bodies.length, 32, async (i) => {
      const answer = await poster.post(`${url}/webhooks/doclo`, bodies[i], { 'x-doclo-signature': sign(SECRET, bodies[i]) });
      if (answer.status !== 200) throw new Error(`webhook answered ${answer.status}`);
    });
    const all = await waitUntil(() => ids.every((id) => receiver.arrivals.has(id)), 60_000);
    const last = Math.max(...ids.map((id) => receiver.arrivals.get(id)?.at ?? now()));
    const perSecond = (ids.length / (last - t0)) * 1000;

    // Added latency, paced: the same bodies through the gateway and straight to the receiver, interleaved.
    const paced = await startRuns(poster, url, options.pacedRuns, receiver.url);
    const viaGateway = [];
    const direct = [];
    for (const id of paced) {
      const body = webhookBody(id, 'success');
      const signature = sign(SECRET, body);
      const directId = `${id}_direct`;
      const directBody = body.replace(`"id":"${id}"`, `"id":"${directId}"`);
      let sentAt = now();
      await poster.post(`${url}/webhooks/doclo`, body, { 'x-doclo-signature': signature });
      await waitUntil(() => receiver.arrivals.has(id), 5000);
      viaGateway.push((receiver.arrivals.get(id)?.at ?? Infinity) - sentAt);
      sentAt = now();
      await poster.post(receiver.url, directBody, { 'x-doclo-signature': sign(SECRET, directBody) });
      direct.push((receiver.arrivals.get(directId)?.at ?? Infinity) - sentAt);
      await sleep(1000 / options.pacedRate);
    }
    return {
      deliveries: ids.length, allDelivered: all, perSecond,
      gateway: { p50: percentile(viaGateway, 50), p99: percentile(viaGateway, 99) },
      direct: { p50: percentile(direct, 50), p99: percentile(direct, 99) },
    };
  } finally {
    await gateway.stop();
    await sim.stop();
    poster.close();
    await receiver.close();
  }
}

/** Every Doclo webhook lost: delivery after each run's end, with the default poll settings. */
async function lostWebhooks(options, dir) {
  const receiver = await startReceiver();
  const poster = createPoster(16);
  const sim = startWorker('server-worker.js', { kind: 'sim', options: { runMs: options.runMs, failRate: 0, webhookDropRate: 1, webhookSecret: SECRET, seed: 99 } });
  const { url: simUrl } = await sim.ready;
  const gateway = startWorker('server-worker.js', { kind: 'rungate', store: `sqlite:${join(dir, 'relay-lost.db')}`, secret: SECRET, upstreamUrl: `${simUrl}/api/v1`, args: ['--relay-allow-private'] });
  try {
    const { url } = await gateway.ready;
    const ids = await startRuns(poster, url, options.lostRuns, receiver.url);
    await waitUntil(() => ids.every((id) => receiver.arrivals.has(id)), options.runMs * 1.5 + 30_000);
    // Seconds after the run's completedAt (both clocks are this machine's).
    const lags = ids.map((id) => {
      const arrival = receiver.arrivals.get(id);
      return arrival ? (performance.timeOrigin + arrival.at - Date.parse(arrival.completedAt)) / 1000 : Infinity;
    });
    return { runs: ids.length, p50: percentile(lags, 50), max: Math.max(...lags) };
  } finally {
    await gateway.stop();
    await sim.stop();
    poster.close();
    await receiver.close();
  }
}

export async function run(options, log) {
  const dir = mkdtempSync(join(tmpdir(), 'rungate-bench-relay-'));
  try {
    const raw = [];
    for (let rep = 0; rep < options.reps; rep++) {
      const result = await oneRep(options, rep, dir);
      raw.push(result);
      log(`  relay rep ${rep + 1}/${options.reps}: ${result.perSecond.toFixed(0)} deliveries/s (${result.deliveries}, all: ${result.allDelivered}); webhook → receiver p50 ${result.gateway.p50.toFixed(2)} p99 ${result.gateway.p99.toFixed(2)} ms, direct p50 ${result.direct.p50.toFixed(2)} p99 ${result.direct.p99.toFixed(2)} ms`);
    }
    const lost = await lostWebhooks(options, dir);
    log(`  relay, every webhook lost: ${lost.runs} runs, delivery after the run's end p50 ${lost.p50.toFixed(2)} s, max ${lost.max.toFixed(2)} s`);
    const med = (pick) => median(raw.map(pick));
    const addedP99 = med((r) => r.gateway.p99 - r.direct.p99);
    const rows = [
      { scenario: 'Relay (SQLite)', measure: `deliveries/s (${options.deliveries} runs final at once)`, rungate: med((r) => r.perSecond), baselineText: '—', goal: '≥ 2,000/s', met: med((r) => r.perSecond) >= 2000 && raw.every((r) => r.allDelivered) },
      { scenario: 'Relay (SQLite)', measure: `webhook arrival → receiver, p50 ms (vs posted straight to the receiver)`, rungate: med((r) => r.gateway.p50), baseline: med((r) => r.direct.p50), ratio: median(raw.map((r) => ratio(r.gateway.p50, r.direct.p50))), goal: '—' },
      { scenario: 'Relay (SQLite)', measure: `webhook arrival → receiver, p99 ms (added: ${addedP99.toFixed(2)} ms)`, rungate: med((r) => r.gateway.p99), baseline: med((r) => r.direct.p99), ratio: median(raw.map((r) => ratio(r.gateway.p99, r.direct.p99))), goal: 'added ≤ 20 ms', met: addedP99 <= 20 },
      { scenario: 'Relay (SQLite)', measure: `every webhook lost: run end → delivery, max s (${lost.runs} runs; p50 ${lost.p50.toFixed(2)} s)`, rungate: lost.max, baselineText: '—', goal: '≤ 10 s', met: lost.max <= 10 },
    ];
    return { raw, lost, rows };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
