// One server under test, in its own process so that load generators and clients do not share its
// event loop. `node bench/server-worker.js '<json spec>'` (forked by bench-lib's startWorker):
//   { kind: 'rungate', store: 'memory'|'sqlite:PATH'|'redis://…', args?: [...], secret, upstreamUrl? }
//   { kind: 'express' }  a bare express server: express.json() on the body, 200
//   { kind: 'http' }     a bare node:http server: read the body, JSON.parse, 200
//   { kind: 'ws' }       a bare ws server; POST /broadcast sends the body as one text frame to every socket
//   { kind: 'sim', options: {...createSimulator options} }
// It answers `measure` with its memory after GC (run it with --expose-gc) and exits on `stop`.
/* global process, Buffer, console */ // a Node script; the lint config has no Node globals for plain JS
import { createServer } from 'node:http';
import { fromDist, serveParent, settledMemory } from './bench-lib.js';

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
  return { url: gateway.url, close: () => gateway.close() };
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
  return { url: sim.url, secret: sim.webhookSecret, close: () => sim.close() };
}

const starters = { rungate: startRungate, express: startExpress, http: startHttp, ws: startBareWs, sim: startSim };
const starter = starters[spec.kind];
if (!starter) {
  console.error(`server-worker: unknown kind ${spec.kind}`);
  process.exit(2);
}
const server = await starter();
serveParent({ measure: () => settledMemory() }, () => server.close());
process.send({ type: 'ready', url: server.url, secret: server.secret });
