import { Writable } from 'node:stream';
import { SignJWT } from 'jose';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createClient, type RungateClient } from '../../src/client/index.js';
import { eventually, postJson, startBody, useStack, type StackOptions } from '../support/gateway-harness.js';
import { clientFrameProblem, pushSchemas, schemaProblem, serverFrameProblem } from '../support/push-schemas.js';
import { RecordingRelay } from '../support/recording-relay.js';

const JWT_SECRET = 'push-schema-test-secret-of-at-least-32-characters';
const FINAL = ['success', 'failed', 'cancelled'];

function token(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(JWT_SECRET));
}

/** The `listening` line is written whatever the level: these tests send their logs nowhere. */
const quiet = () => pino({ level: 'silent' }, new Writable({ write: (_chunk, _encoding, done) => done() }));

/** A WebSocket peer that keeps every text frame exactly as the gateway wrote it. */
class RawPeer {
  readonly received: string[] = [];
  readonly sent: unknown[] = [];
  closeCode: number | undefined;
  private readonly closed: Promise<void>;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) this.received.push(data.toString('utf8'));
    });
    this.closed = new Promise((resolve) =>
      socket.on('close', (code) => {
        this.closeCode = code;
        resolve();
      }),
    );
  }

  static async connect(url: string, headers: Record<string, string> = {}): Promise<RawPeer> {
    const peer = new RawPeer(new WebSocket(url, { headers }));
    await new Promise<void>((resolve, reject) => {
      peer.socket.once('open', () => resolve());
      peer.socket.once('error', reject);
    });
    return peer;
  }

  /** Sends a frame: an object as JSON, a string as it is. */
  send(frame: unknown): void {
    this.sent.push(frame);
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  messages(): any[] {
    return this.received.map((text) => JSON.parse(text));
  }

  until(match: (messages: any[]) => boolean): Promise<void> {
    return eventually(() => match(this.messages()), 15_000);
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.close();
    await this.closed;
  }

  waitClosed(): Promise<void> {
    return this.closed;
  }
}

/** Every problem found when the frames are checked against docs/schema. */
function problems(frames: string[]): string[] {
  return frames.flatMap((text) => {
    const problem = serverFrameProblem(JSON.parse(text));
    return problem === undefined ? [] : [`${problem} in ${text.slice(0, 300)}`];
  });
}

/** Frames of the ws protocol suite that the gateway answers with bad_request. */
const MALFORMED: unknown[] = [
  'not json',
  '[]',
  '42',
  'null',
  { op: 'dance' },
  { op: 'subscribe' },
  { op: 'subscribe', runId: 'exec_a', flowId: 'f' },
  { op: 'subscribe', runId: 42 },
  { op: 'subscribe', runId: '<script>' },
  { op: 'subscribe', runId: 'x'.repeat(300) },
  { op: 'subscribe', runIds: [] },
  { op: 'subscribe', runIds: 'exec_a' },
  { op: 'subscribe', runId: 'exec_a', since: -1 },
  { op: 'subscribe', runId: 'exec_a', since: 1.5 },
  { op: 'subscribe', flowId: '' },
  { op: 'auth' },
  '{"op":"subscribe","runId":"exec_a"',
];

describe('docs/schema: the push protocol as the gateway speaks it', () => {
  const t = useStack();
  const peers: RawPeer[] = [];
  afterEach(async () => {
    await Promise.all(peers.splice(0).map((peer) => peer.close()));
  });

  async function start(options: StackOptions = {}) {
    return t.start({ logger: quiet(), ...options });
  }

  async function connect(headers: Record<string, string> = {}): Promise<RawPeer> {
    const peer = await RawPeer.connect(t.stack.wsUrl, headers);
    peers.push(peer);
    return peer;
  }

  it('subscriptions by run, by runIds and by flow, their runs to the end, and bad_request/not_found', async () => {
    const stack = await start({ sim: { runMs: 300, failRate: 0.5, seed: 7 } });
    const peer = await connect();
    peer.send({ op: 'subscribe', flowId: '*' });
    peer.send({ op: 'subscribe', flowId: 'invoice-extractor' });
    peer.send({ op: 'auth', token: 'ignored-while-auth-is-off' });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const started = await postJson(`${stack.url}/api/v1/flows/invoice-extractor/run`, startBody({ metadata: { n: i } }));
      expect(started.status).toBe(200);
      ids.push(started.body.id);
    }
    peer.send({ op: 'subscribe', runId: ids[0] });
    peer.send({ op: 'subscribe', runIds: [ids[1], ids[2], 'exec_unknown_to_everyone'], since: 0 });
    peer.send({ op: 'subscribe', runId: 'exec_nobody_knows' });
    await peer.until((messages) => ids.every((id) => messages.some((m) => m.type === 'run' && m.run.id === id && FINAL.includes(m.run.status))));
    peer.send({ op: 'subscribe', runId: ids[3], since: 1_000_000 });
    peer.send({ op: 'unsubscribe', runIds: [ids[1], ids[2]] });
    peer.send({ op: 'unsubscribe', flowId: '*' });
    for (const frame of MALFORMED) peer.send(frame);
    await peer.until((messages) => messages.filter((m) => m.code === 'bad_request').length === MALFORMED.length);
    await peer.until((messages) => messages.some((m) => m.type === 'subscribed' && m.runId === ids[3]));

    const messages = peer.messages();
    expect(problems(peer.received)).toEqual([]);
    // What was covered: every message type and shape this scenario can produce.
    expect(messages.some((m) => m.type === 'subscribed' && m.flowId === '*')).toBe(true);
    expect(messages.some((m) => m.type === 'subscribed' && m.runId === ids[0])).toBe(true);
    expect(messages.some((m) => m.type === 'run' && m.run.status === 'success' && m.run.output !== undefined)).toBe(true);
    expect(messages.some((m) => m.type === 'run' && m.run.status === 'failed' && m.run.error !== undefined)).toBe(true);
    expect(messages.filter((m) => m.code === 'not_found').map((m) => m.runId).sort()).toEqual(['exec_nobody_knows', 'exec_unknown_to_everyone']);
    expect(messages.find((m) => m.code === 'bad_request' && m.runId === '<script>')).toBeDefined();

    // Each run object also conforms on its own (it is the data of SSE events too).
    for (const m of messages.filter((message) => message.type === 'run')) expect(schemaProblem(pushSchemas.run, m.run)).toBeUndefined();
    // The frames this test meant as valid are valid; every one the gateway refused, the schema refuses.
    const valid = peer.sent.filter((frame) => !MALFORMED.includes(frame));
    for (const frame of valid) expect(clientFrameProblem(frame), JSON.stringify(frame)).toBeUndefined();
    for (const frame of MALFORMED) {
      const value = typeof frame === 'string' ? tryParse(frame) : frame;
      expect(value === undefined || clientFrameProblem(value) !== undefined, JSON.stringify(frame)).toBe(true);
    }
  });

  it('limit_exceeded for subscriptions and lookups, unavailable when upstream cannot answer', async () => {
    await start({ args: ['--ws-max-subscriptions', '2', '--ws-lookups-per-connection', '1'] });
    const peer = await connect();
    peer.send({ op: 'subscribe', flowId: 'a' });
    peer.send({ op: 'subscribe', flowId: 'b' });
    peer.send({ op: 'subscribe', flowId: 'c' });
    peer.send({ op: 'subscribe', runIds: ['exec_x1', 'exec_x2', 'exec_x3'] });
    await peer.until((messages) => messages.filter((m) => m.type === 'error').length === 2);
    peer.send({ op: 'unsubscribe', flowId: 'a' });
    peer.send({ op: 'unsubscribe', flowId: 'b' });
    peer.send({ op: 'subscribe', runIds: ['exec_y1', 'exec_y2'] });
    await peer.until((messages) => messages.filter((m) => m.runId?.startsWith('exec_y')).length === 2);
    const codes = peer.messages().map((m) => m.code ?? m.type);
    expect(codes.filter((code) => code === 'limit_exceeded').length).toBeGreaterThanOrEqual(2);
    expect(codes).toContain('bad_request');
    expect(problems(peer.received)).toEqual([]);
    await peer.close();
    await t.stack.close();

    await start({ sim: { errorRate: 1 }, args: ['--upstream-retries', '0'] });
    const unlucky = await connect();
    unlucky.send({ op: 'subscribe', runId: 'exec_while_doclo_is_down' });
    await unlucky.until((messages) => messages.length === 1);
    expect(unlucky.messages()[0]).toMatchObject({ type: 'error', code: 'unavailable', runId: 'exec_while_doclo_is_down' });
    expect(problems(unlucky.received)).toEqual([]);
  });

  it('with auth on: unauthorized, forbidden, and what an admin and an owner see', async () => {
    const stack = await start({ sim: { runMs: 300, failRate: 0 }, args: ['--jwt-secret', JWT_SECRET] });
    const [alice, bob, admin] = await Promise.all([token({ sub: 'alice' }), token({ sub: 'bob' }), token({ sub: 'ops', admin: true })]);
    const started = await postJson(`${stack.url}/api/v1/flows/invoice-extractor/run`, startBody(), { authorization: `Bearer ${alice}` });
    expect(started.status).toBe(200);
    const runId: string = started.body.id;

    const owner = await connect({ authorization: `Bearer ${alice}` });
    owner.send({ op: 'subscribe', runId });
    const other = await connect();
    other.send({ op: 'auth', token: bob });
    other.send({ op: 'subscribe', runId });
    other.send({ op: 'subscribe', flowId: '*' });
    const ops = await connect();
    ops.send({ op: 'auth', token: admin });
    ops.send({ op: 'subscribe', flowId: '*' });
    ops.send({ op: 'subscribe', runId });
    const anonymous = await connect();
    anonymous.send({ op: 'subscribe', runId });
    const forger = await connect();
    forger.send({ op: 'auth', token: 'not-a-token' });

    await owner.until((messages) => messages.some((m) => m.type === 'run' && FINAL.includes(m.run.status)));
    await ops.until((messages) => messages.some((m) => m.type === 'run' && FINAL.includes(m.run.status)));
    await other.until((messages) => messages.filter((m) => m.code === 'forbidden').length === 2);
    await Promise.all([anonymous.waitClosed(), forger.waitClosed()]);

    expect(other.messages().find((m) => m.runId === runId)).toMatchObject({ type: 'error', code: 'forbidden' });
    for (const refused of [anonymous, forger]) {
      expect(refused.messages()).toEqual([expect.objectContaining({ type: 'error', code: 'unauthorized' })]);
      expect(refused.closeCode).toBe(1008);
    }
    for (const peer of [owner, other, ops, anonymous, forger]) expect(problems(peer.received)).toEqual([]);
    for (const peer of [owner, other, ops, anonymous, forger]) {
      for (const frame of peer.sent) expect(clientFrameProblem(frame), JSON.stringify(frame)).toBeUndefined();
    }
  });
});

describe('docs/schema: the frames the client library sends', () => {
  const t = useStack();
  let relay: RecordingRelay | undefined;
  let client: RungateClient | undefined;
  afterEach(async () => {
    client?.close();
    await relay?.close();
    client = undefined;
    relay = undefined;
  });

  it('auth, subscribe, resubscribe with since after a dropped connection, and unsubscribe all conform', async () => {
    const stack = await t.start({ logger: quiet(), sim: { runMs: 3000, failRate: 0 }, args: ['--jwt-secret', JWT_SECRET] });
    relay = await RecordingRelay.start(stack.url);
    client = createClient({ url: relay.url, token: await token({ sub: 'alice' }), reconnect: { initialDelayMs: 20, maxDelayMs: 100 } });
    const document = { base64: Buffer.from('%PDF-1.4 schema test').toString('base64'), mimeType: 'application/pdf' };
    const followed = await client.flows.run('invoice-extractor', { input: { document } });
    const dropped = await client.flows.run('invoice-extractor', { input: { document } });

    const seen: number[] = [];
    client.runs.subscribe(followed.id, (run) => seen.push(run.seq));
    // Follow `dropped` until the gateway has confirmed the subscription, then let go of it.
    const stop = client.runs.subscribe(dropped.id, () => undefined);
    const confirmed = (id: string) => relay!.sentBy('gateway').some((frame: any) => frame.type === 'subscribed' && frame.runId === id);
    await eventually(() => confirmed(dropped.id) && confirmed(followed.id) && seen.length > 0);
    stop();
    await eventually(() => relay!.sentBy('client').some((frame: any) => frame.op === 'unsubscribe'));
    // A network failure mid-run: the client reconnects, authenticates again and resubscribes with since.
    relay.dropConnections();
    const done = await client.runs.waitForCompletion(followed.id, { timeout: 20_000 });
    expect(done.status).toBe('success');

    const frames = relay.sentBy('client') as Array<Record<string, unknown>>;
    for (const frame of frames) expect(clientFrameProblem(frame), JSON.stringify(frame)).toBeUndefined();
    expect(frames.filter((frame) => frame.op === 'auth').length).toBeGreaterThanOrEqual(2);
    expect(frames.some((frame) => frame.op === 'unsubscribe')).toBe(true);
    expect(frames.some((frame) => frame.op === 'subscribe' && typeof frame.since === 'number' && frame.since > 0)).toBe(true);
    expect(problems(relay.frames.filter((frame) => frame.from === 'gateway').map((frame) => frame.text))).toEqual([]);
  });
});

function tryParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
