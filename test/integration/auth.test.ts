import { Writable } from 'node:stream';
import { SignJWT } from 'jose';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { getJson, postJson, startBody, useStack, WsProbe } from '../support/gateway-harness.js';

const SECRET = 'test-secret-that-is-at-least-32-characters-long';
const CLIENT_KEY = 'dc_test_service_0123456789abcdefghijklmnopqrstuvwxyz_0123';

async function token(claims: Record<string, unknown>, options: { secret?: string; expiresIn?: string | number; alg?: string } = {}): Promise<string> {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: options.alg ?? 'HS256' }).setIssuedAt();
  if (options.expiresIn !== undefined) jwt = jwt.setExpirationTime(options.expiresIn);
  return jwt.sign(new TextEncoder().encode(options.secret ?? SECRET));
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

/** Contract section 5 and issue "Auth, tenancy and hostile input": every 401/403 path. */
describe('auth and tenancy', () => {
  const fixture = useStack();

  async function start(extraArgs: string[] = [], sim = {}) {
    await fixture.start({ sim: { runMs: 400, failRate: 0, ...sim }, args: ['--jwt-secret', SECRET, '--client-key', `svc=${CLIENT_KEY}`, ...extraArgs] });
    return {
      alice: await token({ sub: 'alice' }, { expiresIn: '1h' }),
      bob: await token({ sub: 'bob' }, { expiresIn: '1h' }),
      admin: await token({ sub: 'ops', admin: true }, { expiresIn: '1h' }),
    };
  }

  it('refuses REST calls without a valid token with 401, and names no secrets', async () => {
    await start();
    const url = `${fixture.stack.url}/api/v1/runs`;
    const missing = await getJson(url);
    expect(missing.status).toBe(401);
    expect(missing.body.error.code).toBe('UNAUTHORIZED');
    expect(missing.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const bad = [
      'garbage',
      await token({ sub: 'alice' }, { expiresIn: '-1h' }),
      await token({ sub: 'alice' }, { expiresIn: '1h', secret: 'another-secret-that-is-at-least-32-chars' }),
      await token({ sub: 'alice' }),
      await token({ admin: true }, { expiresIn: '1h' }),
      await token({ sub: 'alice', admin: 'yes' }, { expiresIn: '1h' }),
      await token({ sub: 'alice', runs: 'exec_1' }, { expiresIn: '1h' }),
      await token({ sub: 'alice' }, { expiresIn: '1h', alg: 'HS512' }),
      `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"alice","admin":true,"exp":99999999999}').toString('base64url')}.`,
    ];
    for (const t of bad) {
      const answer = await getJson(url, bearer(t));
      expect(answer.status, t.slice(0, 40)).toBe(401);
      expect(JSON.stringify(answer.body)).not.toContain(SECRET);
    }
    const expired = await getJson(url, bearer(bad[1]!));
    expect(expired.body.error.message).toMatch(/expired/);
    for (const open of ['/healthz', '/readyz', '/metrics']) expect((await fetch(`${fixture.stack.url}${open}`)).status).toBe(200);
  });

  it('gives each owner its own runs: 403 for others and for unknown runs, with no upstream lookup', async () => {
    // Runs long enough to be still cancellable at the end, however loaded the machine.
    const { alice, bob, admin } = await start([], { runMs: 30_000 });
    const started = await postJson(`${fixture.stack.url}/api/v1/flows/f/run`, startBody(), bearer(alice));
    expect(started.status).toBe(200);
    const id = started.body.id as string;
    expect((await getJson(`${fixture.stack.url}/api/v1/runs/${id}`, bearer(alice))).status).toBe(200);
    const gets = fixture.stack.sim.stats().requests.get;
    for (const path of [`/api/v1/runs/${id}`, '/api/v1/runs/exec_unknown123']) {
      const answer = await getJson(`${fixture.stack.url}${path}`, bearer(bob));
      expect(answer.status).toBe(403);
      expect(answer.body).toEqual({ error: { code: 'FORBIDDEN', message: expect.any(String) } });
    }
    const cancel = await postJson(`${fixture.stack.url}/api/v1/runs/${id}/cancel`, '', bearer(bob));
    expect(cancel.status).toBe(403);
    expect(fixture.stack.sim.stats().requests.get).toBe(gets);
    expect(fixture.stack.sim.stats().requests.cancel).toBe(0);

    // A runs claim grants reading that run; admins read everything and may look upstream.
    const granted = await token({ sub: 'bob', runs: [id] }, { expiresIn: '1h' });
    expect((await getJson(`${fixture.stack.url}/api/v1/runs/${id}`, bearer(granted))).status).toBe(200);
    expect((await getJson(`${fixture.stack.url}/api/v1/runs/${id}`, bearer(admin))).status).toBe(200);
    expect((await getJson(`${fixture.stack.url}/api/v1/runs/exec_unknown123`, bearer(admin))).status).toBe(404);

    const mine = await getJson(`${fixture.stack.url}/api/v1/runs`, bearer(alice));
    expect(mine.body.data.map((r: { id: string }) => r.id)).toEqual([id]);
    expect((await getJson(`${fixture.stack.url}/api/v1/runs`, bearer(bob))).body.data).toEqual([]);
    expect((await getJson(`${fixture.stack.url}/api/v1/runs`, bearer(admin))).body.data).toHaveLength(1);
    expect((await postJson(`${fixture.stack.url}/api/v1/runs/${id}/cancel`, '', bearer(alice))).status).toBe(200);
  });

  it('lets a server-to-server caller in with a static client key', async () => {
    await start();
    const started = await postJson(`${fixture.stack.url}/api/v1/flows/f/run`, startBody(), bearer(CLIENT_KEY));
    expect(started.status).toBe(200);
    expect((await getJson(`${fixture.stack.url}/api/v1/runs/${started.body.id}`, bearer(CLIENT_KEY))).status).toBe(200);
    expect((await getJson(`${fixture.stack.url}/api/v1/runs/${started.body.id}`, bearer(`${CLIENT_KEY}x`))).status).toBe(401);
  });

  it('refuses a WebSocket upgrade with a bad token with 401', async () => {
    await start();
    const expired = await token({ sub: 'alice' }, { expiresIn: '-1h' });
    for (const t of ['nope', expired]) {
      const status = await new Promise<number>((resolve, reject) => {
        const socket = new WebSocket(fixture.stack.wsUrl, { headers: bearer(t) });
        socket.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        socket.on('open', () => reject(new Error('upgrade accepted')));
        socket.on('error', () => undefined);
      });
      expect(status).toBe(401);
    }
  });

  it('takes first-frame auth, and closes peers that do not authenticate', async () => {
    const { alice } = await start(['--ws-auth-timeout-ms', '300']);
    const quiet = await fixture.probe();
    await quiet.waitClosed();
    expect(quiet.closeCode).toBe(1008);

    const early = await fixture.probe();
    early.send({ op: 'subscribe', flowId: 'f' });
    await early.waitClosed();
    expect(early.messages[0]).toMatchObject({ type: 'error', code: 'unauthorized' });
    expect(early.closeCode).toBe(1008);

    const wrong = await fixture.probe();
    wrong.send({ op: 'auth', token: 'nope' });
    await wrong.waitClosed();
    expect(wrong.messages[0]).toMatchObject({ type: 'error', code: 'unauthorized' });

    const good = await fixture.probe();
    good.send({ op: 'auth', token: alice });
    good.send({ op: 'subscribe', flowId: 'f' });
    await good.waitFor((m) => m.type === 'subscribed');
    // A silent peer that connects after good is closed by its own deadline; good's, set earlier
    // and as long, has passed by then, and good must still be open.
    const later = await fixture.probe();
    await later.waitClosed();
    expect(later.closeCode).toBe(1008);
    expect(good.socket.readyState).toBe(WebSocket.OPEN);
  });

  it('keeps WebSocket subscribers to their own runs', async () => {
    const { alice, bob, admin } = await start();
    const aliceWs = await fixture.probe({ headers: bearer(alice) });
    const bobWs = await fixture.probe({ headers: bearer(bob) });
    const adminWs = await fixture.probe({ headers: bearer(admin) });
    aliceWs.send({ op: 'subscribe', flowId: 'shared' });
    bobWs.send({ op: 'subscribe', flowId: 'shared' });
    adminWs.send({ op: 'subscribe', flowId: '*' });
    bobWs.send({ op: 'subscribe', flowId: '*' });
    await aliceWs.waitFor((m) => m.type === 'subscribed');
    await adminWs.waitFor((m) => m.type === 'subscribed' && m.flowId === '*');
    expect(await bobWs.waitFor((m) => m.type === 'error')).toMatchObject({ code: 'forbidden' });

    const started = await postJson(`${fixture.stack.url}/api/v1/flows/shared/run`, startBody(), bearer(alice));
    const id = started.body.id as string;
    const gets = fixture.stack.sim.stats().requests.get;
    bobWs.send({ op: 'subscribe', runId: id });
    bobWs.send({ op: 'subscribe', runId: 'exec_neverseen1' });
    await bobWs.waitFor(() => bobWs.messages.filter((m) => m.code === 'forbidden').length === 3);
    await aliceWs.waitFor((m) => m.run?.id === id && m.run.status === 'success');
    await adminWs.waitFor((m) => m.run?.id === id && m.run.status === 'success');
    expect(bobWs.runs()).toEqual([]);
    expect(bobWs.messages.some((m) => m.type === 'subscribed' && m.runId !== undefined)).toBe(false);
    expect(fixture.stack.sim.stats().requests.get).toBe(gets);
  });

  it('limits connections per owner', async () => {
    const { alice } = await start(['--ws-max-connections-per-client', '2']);
    await fixture.probe({ headers: bearer(alice) });
    await fixture.probe({ headers: bearer(alice) });
    await expect(WsProbe.connect(fixture.stack.wsUrl, { headers: bearer(alice) })).rejects.toThrow(/429/);
  });

  it('checks origins for WebSocket and answers CORS only for allowed origins', async () => {
    await start(['--allowed-origins', 'https://app.example']);
    await expect(WsProbe.connect(fixture.stack.wsUrl, { origin: 'https://evil.example' })).rejects.toThrow(/403/);
    await fixture.probe({ origin: 'https://app.example' });
    const preflight = await fetch(`${fixture.stack.url}/api/v1/runs`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    const other = await fetch(`${fixture.stack.url}/api/v1/runs`, { headers: { origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('never logs tokens, signatures, documents or outputs', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const stack = await fixture.start({ sim: { runMs: 100, failRate: 0 }, args: ['--jwt-secret', SECRET, '--log-level', 'trace'], logger: pino({ level: 'trace' }, sink) });
    const alice = await token({ sub: 'alice' }, { expiresIn: '1h' });
    const body = startBody();
    const started = await postJson(`${stack.url}/api/v1/flows/f/run`, body, bearer(alice));
    await getJson(`${stack.url}/api/v1/runs/${started.body.id}`, { ...bearer(alice), prefer: 'wait=5' });
    await getJson(`${stack.url}/api/v1/runs/x`, bearer('garbage-token-value'));
    const text = lines.join('');
    expect(text.length).toBeGreaterThan(0);
    expect(text).not.toContain(alice);
    expect(text).not.toContain('garbage-token-value');
    expect(text).not.toContain((body.input as { document: { base64: string } }).document.base64);
    expect(text).not.toContain('invoiceNumber');
    expect(text).not.toContain(stack.sim.webhookSecret);
  });
});
