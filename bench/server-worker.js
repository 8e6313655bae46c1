// One server under test, in its own process so that load generators and clients do not share its
// event loop. `node bench/server-worker.js '<json spec>'` (forked by bench-lib's startWorker):
//   { kind: 'rungate', store: 'memory'|'sqlite:PATH'|'redis://…', args?: [...], secret, upstreamUrl? }
//   { kind: 'express' }  a bare express server: express.json() on the body, 200
//   { kind: 'http' }     a bare node:http server: read the body, JSON.parse, 200
//   { kind: 'ws' }       a bare ws server; POST /broadcast sends the body as one text frame to every socket
//   { kind: 'sim', options: {...createSimulator options} }
// It answers `measure` with its memory after GC (run it with --expose-gc), `sample` with its
// memory as it is, its longest event-loop stall since the last sample and (rungate) the gateway's
// counters, `snapshot` by writing a heap snapshot, `heap-profile` by sampling for some seconds what
// is allocated and outlives the young generation (what fills the old one), and exits on `stop`.
/* global process, Buffer, console, setTimeout */ // a Node script; the lint config has no Node globals for plain JS
import { createServer } from 'node:http';
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { writeHeapSnapshot } from 'node:v8';
import { fromDist, serveParent, settledMemory, startGcMonitor, startStallMonitor } from './bench-lib.js';

const spec = JSON.parse(process.argv[2] ?? '{}');
const DEAD_UPSTREAM = 'http://127.0.0.1:9/api/v1'; // discard port: nothing answers, nothing is polled before the grace

function listen(server) {
  return new Promise((done, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => done(`http://127.0.0.1:${server.address().port}`));
  });
}

function readBody(req) {
  return new Promise((done, fail) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => done(Buffer.concat(chunks)));
    req.on('error', fail);
  });
}

async function startRungate() {
  const [{ pino }, { loadServeConfig }, { startGateway }] = await Promise.all([import('pino'), fromDist('config/serve-config.js'), fromDist('gateway.js')]);
  const args = [
    '--port', '0',
    '--store', spec.store ?? 'memory',
    '--upstream-url', spec.upstreamUrl ?? DEAD_UPSTREAM,
    '--webhook-secret', spec.secret,
    '--log-level', 'silent',
    '--ws-max-connections-per-client', '100000',
    ...(spec.args ?? []),
  ];
  const gateway = await startGateway({ ...loadServeConfig(args, {}), simulate: false }, pino({ level: 'silent' }));
  return { url: gateway.url, close: () => gateway.close(), counters: () => gatewayCounters(gateway.metrics) };
}

/** Totals of the gateway's own counters and gauges that the soak reports (read in-process). */
async function gatewayCounters(metrics) {
  const total = async (metric) => (await metric.get()).values.reduce((sum, { value }) => sum + value, 0);
  return {
    webhooks: await total(metrics.webhooks),
    runsFinal: await total(metrics.runsFinal),
    recoveredByPoll: await total(metrics.runsRecoveredByPoll),
    polls: await total(metrics.polls),
    wsMessagesSent: await total(metrics.wsMessagesSent),
    wsMessagesDropped: await total(metrics.wsMessagesDropped),
    slowConsumerCloses: await total(metrics.wsSlowConsumerCloses),
    wsConnections: await total(metrics.wsConnections),
    cacheEntries: await total(metrics.cacheEntries),
    pollsScheduled: await total(metrics.pollsScheduled),
    // Cumulative buckets of webhook arrival → frames written, measured inside the gateway.
    pushLatencyBuckets: (await metrics.pushLatency.get()).values.filter((v) => v.metricName?.endsWith('_bucket')).map((v) => [v.labels.le, v.value]),
  };
}

async function startExpress() {
  const { default: express } = await import('express');
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.post('/webhooks/doclo', express.json({ limit: '16mb' }), (req, res) => {
    res.status(200).json({ received: true, duplicate: false });
  });
  const server = createServer(app);
  return { url: await listen(server), close: () => new Promise((done) => server.close(done)) };
}

async function startHttp() {
  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    JSON.parse(body.toString('utf8'));
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true,"duplicate":false}');
  });
  return { url: await listen(server), close: () => new Promise((done) => server.close(done)) };
}

async function startBareWs() {
  const { WebSocketServer } = await import('ws');
  const server = createServer(async (req, res) => {
    const frame = await readBody(req);
    // The same shape of work as the gateway's fan-out: one buffer, one send per socket.
    for (const socket of wss.clients) socket.send(frame, { binary: false });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"sent":true}');
  });
  const wss = new WebSocketServer({ server, path: '/ws' });
  return {
    url: await listen(server),
    close: () =>
      new Promise((done) => {
        for (const socket of wss.clients) socket.terminate();
        wss.close(() => server.close(done));
      }),
  };
}

async function startSim() {
  const { createSimulator } = await fromDist('simulator/index.js');
  const sim = await createSimulator(spec.options ?? {});
  return { url: sim.url, secret: sim.webhookSecret, close: () => sim.close(), counters: () => sim.stats() };
}

/**
 * V8's sampling heap profiler for `seconds`, counting objects that a scavenge would have freed as
 * gone: what is left is what got promoted (and what is still live), by allocating stack.
 */
async function sampleSurvivors(path, seconds) {
  const session = new Session();
  session.connect();
  try {
    await session.post('HeapProfiler.enable');
    await session.post('HeapProfiler.startSampling', { samplingInterval: 32 * 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: false });
    await new Promise((done) => setTimeout(done, seconds * 1000));
    const { profile } = await session.post('HeapProfiler.stopSampling');
    writeFileSync(path, JSON.stringify(profile));
    return { path };
  } finally {
    session.disconnect();
  }
}

const starters = { rungate: startRungate, express: startExpress, http: startHttp, ws: startBareWs, sim: startSim };
const starter = starters[spec.kind];
if (!starter) {
  console.error(`server-worker: unknown kind ${spec.kind}`);
  process.exit(2);
}
const stalls = startStallMonitor();
const collections = startGcMonitor();
/** CPU time used so far (user + system), ms. */
const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};
const server = await starter();
serveParent(
  {
    measure: () => settledMemory(),
    sample: async () => ({ memory: process.memoryUsage(), cpuMs: cpuMs(), maxStallMs: stalls.takeMaxMs(), gc: collections.take(), counters: (await server.counters?.()) ?? {} }),
    // Blocks this process while it writes (seconds for a large heap): only at chosen moments.
    snapshot: ({ path }) => ({ path: writeHeapSnapshot(path) }),
    'heap-profile': ({ path, seconds }) => sampleSurvivors(path, seconds),
  },
  () => server.close(),
);
process.send({ type: 'ready', url: server.url, secret: server.secret });
