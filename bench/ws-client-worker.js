// Many WebSocket clients in one process, apart from the server under test. It also sends the
// changes (webhooks to rungate, POST /broadcast to a bare ws server), so the send time and every
// receipt time come from one clock. `node bench/ws-client-worker.js '<json spec>'`:
//   { wsUrl, count, subscribe: {...} | null, postUrl, secret: string | null, sseUrl?: string }
// with sseUrl, the clients are Server-Sent Events streams (GET sseUrl) instead of WebSockets;
// each `event: run` is one frame (its data line).
// with a secret, changes are signed webhooks to `${postUrl}/webhooks/doclo`; without, the same
// bodies go to `${postUrl}/broadcast`. Commands: connect, burst, stream, paced (see below).
/* global process, Buffer, setTimeout, clearTimeout */ // a Node script; the lint config has no Node globals for plain JS
import { Agent, get } from 'node:http';
import { createPoster, now, openSubscribed, serveParent, settledMemory, sign, sleep, summarize, webhookBody } from './bench-lib.js';

const spec = JSON.parse(process.argv[2] ?? '{}');
const sockets = [];
const poster = createPoster(64);
/** What the current command does with a frame; idle sockets ignore theirs. */
let onFrame = () => undefined;

function post(body) {
  if (spec.secret) return poster.post(`${spec.postUrl}/webhooks/doclo`, body, { 'x-doclo-signature': sign(spec.secret, body) });
  return poster.post(`${spec.postUrl}/broadcast`, body);
}

const sseAgent = new Agent({ keepAlive: false, maxSockets: Infinity });

/** One event stream; resolves once its first bytes (the `retry:` line) arrived. */
function openStream(index) {
  return new Promise((done, fail) => {
    const req = get(spec.sseUrl, { agent: sseAgent, headers: { accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) return fail(new Error(`event stream answered ${res.statusCode}`));
      let buffered = '';
      let opened = false;
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        if (!opened) {
          opened = true;
          done({ terminate: () => req.destroy() });
        }
        buffered += chunk;
        let end;
        while ((end = buffered.indexOf('\n\n')) !== -1) {
          const event = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const data = event.split('\n').find((line) => line.startsWith('data: '));
          if (data) onFrame(index, Buffer.from(data.slice(6)));
        }
      });
    });
    req.on('error', fail);
  });
}

function open(index) {
  if (spec.sseUrl) return openStream(index);
  return openSubscribed(spec.wsUrl, spec.subscribe, (data) => onFrame(index, data));
}

async function connect() {
  const started = now();
  let next = 0;
  const lanes = Array.from({ length: Math.min(100, spec.count) }, async () => {
    while (next < spec.count) {
      const index = next++;
      sockets[index] = await open(index);
    }
  });
  await Promise.all(lanes);
  return { connected: sockets.length, ms: now() - started };
}

/** One change to every socket: per-socket time from the POST to its receipt. */
async function burst({ id, timeoutMs = 30_000 }) {
  const latencies = [];
  const seen = new Uint8Array(sockets.length);
  let allIn;
  const everyone = new Promise((done) => (allIn = done));
  const marker = Buffer.from(id);
  let sentAt = 0;
  onFrame = (index, data) => {
    if (seen[index] || !data.includes(marker)) return;
    seen[index] = 1;
    latencies.push(now() - sentAt);
    if (latencies.length === sockets.length) allIn();
  };
  const timer = setTimeout(() => allIn(), timeoutMs);
  const body = webhookBody(id, 'success');
  sentAt = now();
  const answer = await post(body);
  await everyone;
  clearTimeout(timer);
  onFrame = () => undefined;
  return { status: answer.status, received: latencies.length, expected: sockets.length, ...summarize(latencies) };
}

/**
 * As many changes as `concurrency` POSTs in flight allow, for `durationMs`; then waits until
 * every socket has them all (or nothing arrives for 2 s). Messages/s counts receipts over all
 * sockets from the first POST to the last receipt.
 */
async function stream({ durationMs, concurrency, prefix }) {
  let received = 0;
  let lastAt = 0;
  onFrame = () => {
    received++;
    lastAt = now();
  };
  const started = now();
  let posted = 0;
  let failed = 0;
  const lanes = Array.from({ length: concurrency }, async () => {
    while (now() - started < durationMs) {
      const answer = await post(webhookBody(`${prefix}${posted++}`, 'success'));
      if (answer.status !== 200) failed++;
    }
  });
  await Promise.all(lanes);
  const postedFor = now() - started;
  const expected = posted * sockets.length;
  for (let quiet = 0; received < expected && quiet < 20; ) {
    const before = received;
    await sleep(100);
    quiet = received === before ? quiet + 1 : 0;
  }
  onFrame = () => undefined;
  const spanMs = Math.max(lastAt, started + postedFor) - started;
  return { posted, failed, postsPerSec: (posted / postedFor) * 1000, received, expected, messagesPerSec: (received / spanMs) * 1000 };
}

/** Changes at a steady `rate` per second for `durationMs`; latency of every receipt. */
async function paced({ rate, durationMs, prefix }) {
  const sentAt = new Map();
  const latencies = [];
  onFrame = (_index, data) => {
    const at = now();
    const message = JSON.parse(data.toString());
    // rungate sends {type:'run', run} (SSE: the run itself); the bare server relays the webhook body {data} as it is.
    const id = message.run?.id ?? message.data?.id ?? message.id;
    const sent = sentAt.get(id);
    if (sent !== undefined) latencies.push(at - sent);
  };
  const total = Math.max(1, Math.round((rate * durationMs) / 1000));
  const started = now();
  const inFlight = [];
  let failed = 0;
  for (let i = 0; i < total; i++) {
    // On schedule: the i-th change leaves at i/rate s, however long earlier answers took.
    const due = started + (i * 1000) / rate;
    const wait = due - now();
    if (wait > 1) await sleep(wait);
    const id = `${prefix}${i}`;
    sentAt.set(id, now());
    inFlight.push(post(webhookBody(id, 'success')).then((answer) => answer.status !== 200 && failed++));
  }
  const sendSpanMs = now() - started;
  await Promise.all(inFlight);
  const expected = total * sockets.length;
  for (let quiet = 0; latencies.length < expected && quiet < 20; ) {
    const before = latencies.length;
    await sleep(100);
    quiet = latencies.length === before ? quiet + 1 : 0;
  }
  onFrame = () => undefined;
  const achievedRate = (total / Math.max(sendSpanMs, 1)) * 1000;
  return { sent: total, failed, achievedRate, received: latencies.length, expected, ...summarize(latencies) };
}

serveParent({ connect, burst, stream, paced, measure: () => settledMemory() }, () => {
  for (const socket of sockets) socket.terminate();
  poster.close();
});
process.send({ type: 'ready' });
