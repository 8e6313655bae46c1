// The soak's load and its checker, in a process of its own (bench/soak.js forks it):
// subscribers of flows, runs started through the gateway (the simulator runs them and sends, or
// drops, their webhooks), synthetic runs posted directly as signed webhooks (`running`, then
// `success` or `failed`), and a few REST readers. Every frame a subscriber receives is checked:
// a run's seq only grows on a connection and its final state arrives exactly once.
//   node bench/soak-load-worker.js '<json spec>'
//   { url, secret, transport: 'ws', flows, connections, subscribersPerRun, runsPerSec, simShare,
//     failRate, runMs, waitShare, readsPerSec, tag }
// Commands: connect, start, sample, stop-load, verify (see the handlers at the bottom); what
// subscribers received is kept in a DeliveryLedger (bench/soak-ledger.js).
/* global process, Buffer, setTimeout, clearTimeout, URL */ // a Node script; the lint config has no Node globals for plain JS
import { Agent, request } from 'node:http';
import { WebSocket } from 'ws';
import { now, serveParent, sign, sleep, startStallMonitor } from './bench-lib.js';
import { LatencyHistogram } from './soak-histogram.js';
import { DeliveryLedger } from './soak-ledger.js';

const spec = JSON.parse(process.argv[2] ?? '{}');
const DOCUMENT = { base64: Buffer.from('%PDF-1.4 soak').toString('base64'), mimeType: 'application/pdf' };
const TICK_MS = 5;
/** Beyond this many requests in flight the generator skips runs instead of queueing without end. */
const MAX_IN_FLIGHT = 2000;
// Webhooks have sockets of their own: a start waiting on the simulator (or a `wait: true` start
// held for its run) must not queue a webhook behind it, or the latency measured would be ours.
const apiAgent = new Agent({ keepAlive: true, maxSockets: 256 });
const webhookAgent = new Agent({ keepAlive: true, maxSockets: 128 });
const stalls = startStallMonitor();

const flowName = (flow) => `soak-flow-${String(flow).padStart(4, '0')}`;

const ledger = new DeliveryLedger(spec);
const totals = { runsStarted: 0, simRuns: 0, syntheticRuns: 0, skipped: 0, errorFrames: 0, closedConnections: 0, http5xx: 0, httpOther: 0, httpFailed: 0, webhookRetries: 0, slowAnswers: 0, reads: 0 };
const allTotals = () => ({ ...totals, ...ledger.counts });
let interval = { http5xx: 0, latency: new LatencyHistogram() };
const recentSimIds = [];
/** Run ids by index (synthetic ids are derived), to show what became of a run found lost. */
const simIds = [];
const runId = (index) => simIds[index] ?? `syn_${spec.tag}_${index}`;
let inFlight = 0;

/** Answers slower than this are listed (a few of them) in the totals: where a latency came from. */
const SLOW_ANSWER_MS = 10_000;
const slowAnswers = [];
/** The first few 5xx answers, with the start of their body: what failed, in the gateway's words. */
const serverErrors = [];
/** The first few requests that got no answer at all, with the socket's error: which side gave up. */
const unanswered = [];

function httpRequest(method, url, body, headers = {}, agent = apiAgent) {
  const target = new URL(url);
  const sentAt = now();
  return new Promise((resolve) => {
    const done = (answer) => {
      const ms = now() - sentAt;
      if (ms > SLOW_ANSWER_MS) {
        totals.slowAnswers++;
        if (slowAnswers.length < 10) slowAnswers.push({ method, path: target.pathname.slice(0, 40), status: answer.status, error: answer.error, ms: Math.round(ms) });
      }
      if (answer.status === 0 && unanswered.length < 10) unanswered.push({ method, path: target.pathname.slice(0, 40), error: answer.error, ms: Math.round(ms), reusedSocket: answer.reusedSocket });
      if (answer.status >= 500 && serverErrors.length < 10) serverErrors.push({ method, path: target.pathname.slice(0, 40), status: answer.status, ms: Math.round(ms), body: answer.body.slice(0, 200) });
      resolve(answer);
    };
    const req = request(
      { agent, host: target.hostname, port: target.port, path: target.pathname + target.search, method, headers: body === undefined ? headers : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers } },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', (error) => done({ status: 0, body: '', error: error.code ?? error.message }));
      },
    );
    req.on('error', (error) => done({ status: 0, body: '', error: error.code ?? error.message, reusedSocket: req.reusedSocket }));
    req.end(body);
  });
}

/** Counts an answer: 5xx are a soak failure, other non-2xx are reported, 0 = no answer. */
function tally(status) {
  if (status >= 500) {
    totals.http5xx++;
    interval.http5xx++;
  } else if (status === 0) totals.httpFailed++;
  else if (status >= 300) totals.httpOther++;
  return status >= 200 && status < 300;
}

function onRun(connection, run, at) {
  const latencyMs = ledger.receive(connection, run, at);
  if (latencyMs !== undefined) interval.latency.record(latencyMs);
}

/**
 * The transports a subscriber can use; each opens one connection subscribed to `flows` and
 * calls onRun for every run it receives. SSE (contract §9: `GET /api/v1/events?flowId=F`) goes
 * here once the gateway serves it, next to `ws`. Relay receivers (contract §8) would join the
 * same check: runs started with a `webhookUrl` on a receiver in this process that calls onRun.
 */
const TRANSPORTS = {
  ws: openWsSubscriber,
};

function openWsSubscriber(connection, flows) {
  return new Promise((done, fail) => {
    const socket = new WebSocket(`${spec.url.replace('http', 'ws')}/ws`, { perMessageDeflate: false });
    let confirmed = 0;
    let opened = false;
    socket.once('error', fail);
    socket.on('open', () => {
      opened = true;
      for (const flow of flows) socket.send(JSON.stringify({ op: 'subscribe', flowId: flowName(flow) }));
      if (flows.length === 0) done(socket);
    });
    // Text frames arrive as one Buffer (the default binaryType).
    socket.on('message', (/** @type {Buffer} */ data) => {
      const at = now();
      const message = JSON.parse(data.toString());
      if (message.type === 'run') onRun(connection, message.run, at);
      else if (message.type === 'subscribed') {
        if (++confirmed === flows.length) done(socket);
      } else if (message.type === 'error') totals.errorFrames++;
    });
    socket.on('close', () => {
      if (opened && !stopping) totals.closedConnections++;
    });
  });
}

const sockets = [];
let stopping = false;

async function connect() {
  const open = TRANSPORTS[spec.transport ?? 'ws'];
  if (!open) throw new Error(`transport ${spec.transport} is not available (yet)`);
  const flowsOf = Array.from({ length: spec.connections }, () => []);
  ledger.subscribersOfFlow.forEach((connections, flow) => connections.forEach((c) => flowsOf[c].push(flow)));
  const started = now();
  for (let c = 0; c < spec.connections; c++) sockets.push(await open(c, flowsOf[c]));
  return { connected: sockets.length, subscriptions: flowsOf.reduce((sum, flows) => sum + flows.length, 0), ms: now() - started };
}

// ---- the load ----------------------------------------------------------------------------

function webhook(id, flow, index, status, durationMs) {
  const final = status !== 'running';
  const body = JSON.stringify({
    event: final ? (status === 'success' ? 'execution.completed' : 'execution.failed') : 'run.running',
    timestamp: new Date().toISOString(),
    data: {
      id,
      flowId: flowName(flow),
      status,
      createdAt: new Date(Date.now() - (durationMs ?? 0)).toISOString(),
      ...(final
        ? { completedAt: new Date().toISOString(), duration: durationMs, ...(status === 'success' ? { output: { total: 42.5, currency: 'EUR', lines: 3 } } : { error: { code: 'EXTRACTION_FAILED', message: 'soak: a failing run' } }) }
        : { progress: { step: 'extract', percentage: 50 } }),
      metadata: { soakIndex: index, soakKind: 'synthetic' },
    },
  });
  return deliver(body);
}

/**
 * Posts a webhook, again when no answer came (a keep-alive socket the server closed as it was
 * reused): a sender retries, and a repeat is harmless (200, duplicate).
 */
async function deliver(body) {
  const headers = { 'x-doclo-signature': sign(spec.secret, body) };
  for (let attempt = 1; ; attempt++) {
    const answer = await httpRequest('POST', `${spec.url}/webhooks/doclo`, body, headers, webhookAgent);
    if (answer.status !== 0 || attempt === 3) return answer;
    totals.webhookRetries++;
  }
}

async function syntheticRun(index, flow) {
  const id = `syn_${spec.tag}_${index}`;
  ledger.markSent(index, false, now());
  const running = await webhook(id, flow, index, 'running');
  if (!tally(running.status)) return;
  ledger.markCreated(index);
  const durationMs = Math.round(spec.runMs * (0.5 + Math.random()));
  await sleep(durationMs);
  const status = Math.random() < spec.failRate ? 'failed' : 'success';
  ledger.markSent(index, true, now());
  tally((await webhook(id, flow, index, status, durationMs)).status);
}

async function simulatedRun(index, flow) {
  const wait = Math.random() < spec.waitShare;
  const body = JSON.stringify({ input: { document: DOCUMENT }, metadata: { soakIndex: index, soakKind: 'simulated' }, ...(wait ? { wait: true, timeout: 10_000 } : {}) });
  const answer = await httpRequest('POST', `${spec.url}/api/v1/flows/${flowName(flow)}/run`, body);
  if (!tally(answer.status)) return;
  ledger.markCreated(index);
  const id = JSON.parse(answer.body).id;
  simIds[index] = id;
  if (recentSimIds.length < 1000) recentSimIds.push(id);
  else recentSimIds[index % 1000] = id;
}

/** A REST reader of a recent run; every other one holds its answer with `Prefer: wait`. */
async function read(n) {
  const id = recentSimIds[Math.floor(Math.random() * recentSimIds.length)];
  if (id === undefined) return;
  totals.reads++;
  tally((await httpRequest('GET', `${spec.url}/api/v1/runs/${encodeURIComponent(id)}`, undefined, n % 2 ? { prefer: 'wait=5' } : {})).status);
}

function launch(task) {
  inFlight++;
  void task.finally(() => inFlight--);
}

let loadTimer;
let loadStartedAt = 0;
let readsIssued = 0;

function tick() {
  const elapsed = now() - loadStartedAt;
  const dueRuns = Math.floor((elapsed * spec.runsPerSec) / 1000) - totals.runsStarted - totals.skipped;
  for (let i = 0; i < dueRuns; i++) {
    if (inFlight >= MAX_IN_FLIGHT) {
      totals.skipped++;
      continue;
    }
    const index = ledger.newRun();
    const flow = index % spec.flows;
    totals.runsStarted++;
    if (Math.random() < spec.simShare) {
      totals.simRuns++;
      launch(simulatedRun(index, flow));
    } else {
      totals.syntheticRuns++;
      launch(syntheticRun(index, flow));
    }
  }
  const dueReads = Math.floor((elapsed * spec.readsPerSec) / 1000) - readsIssued;
  for (let i = 0; i < dueReads; i++) launch(read(readsIssued++));
  loadTimer = setTimeout(tick, TICK_MS);
}

// ---- the checks --------------------------------------------------------------------------

/**
 * Every (subscriber, created run) pair: exactly one final state. A pair still missing one is
 * `lost` when the gateway has the run's final state (the push failed) and `unfinished` when the
 * gateway does not have it yet (its recovery by polling was still under way at the end).
 */
async function check() {
  const finalAtGateway = new Set();
  const examples = [];
  for (const run of ledger.missing().slice(0, 5000)) {
    const answer = await httpRequest('GET', `${spec.url}/api/v1/runs/${encodeURIComponent(runId(run.index))}`);
    const body = answer.status === 200 ? JSON.parse(answer.body) : undefined;
    if (body && ['success', 'failed', 'cancelled'].includes(body.status)) finalAtGateway.add(run.index);
    if (examples.length < 10) examples.push({ id: runId(run.index), missing: run.missing, gateway: { status: answer.status, runStatus: body?.status, seq: body?.seq, source: body?.source, stale: body?.stale } });
  }
  // A final the gateway has just written may be on its way: give the frames a moment.
  if (finalAtGateway.size > 0) await sleep(3000);
  let lost = 0;
  let unfinished = 0;
  for (const run of ledger.missing()) {
    if (finalAtGateway.has(run.index)) lost += run.missing;
    else unfinished += run.missing;
  }
  return { ...ledger.tally(), lost, unfinished, lostRuns: examples };
}

serveParent(
  {
    connect,
    start: () => {
      loadStartedAt = now();
      tick();
      return { started: true };
    },
    sample: () => {
      const taken = interval;
      interval = { http5xx: 0, latency: new LatencyHistogram() };
      const { user, system } = process.cpuUsage();
      return { http5xx: taken.http5xx, latency: taken.latency.toJSON(), maxStallMs: stalls.takeMaxMs(), cpuMs: (user + system) / 1000, inFlight, memory: process.memoryUsage(), totals: allTotals() };
    },
    'stop-load': () => {
      clearTimeout(loadTimer);
      return { totals: allTotals() };
    },
    /** Waits (at most timeoutMs) for the runs in flight to end and every final to arrive, then checks. */
    verify: async ({ timeoutMs }) => {
      const deadline = now() + timeoutMs;
      while (now() < deadline && (inFlight > 0 || ledger.counts.firstFinals < ledger.counts.expectedFinals)) await sleep(200);
      return { ...(await check()), inFlight, slowAnswers, serverErrors, unanswered, totals: allTotals() };
    },
  },
  () => {
    stopping = true;
    clearTimeout(loadTimer);
    for (const socket of sockets) socket.terminate();
    apiAgent.destroy();
    webhookAgent.destroy();
  },
);
process.send({ type: 'ready' });
