import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { loadServeConfig } from '../../src/config/serve-config.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { createSimulator, type Simulator } from '../../src/simulator/index.js';
import { eventually, getJson } from '../support/gateway-harness.js';
import { rawRequest, startRecordingUpstream, type RecordingUpstream } from '../support/recording-upstream.js';
import { testLogger } from '../support/test-logs.js';

const DOCLO_KEY = `dc_test_${'g'.repeat(50)}`;
const JWT_SECRET = 'pass-through-test-secret-of-32-characters!';

async function token(sub: string, admin = false): Promise<string> {
  return new SignJWT({ admin }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('10m').sign(new TextEncoder().encode(JWT_SECRET));
}

describe('pass-through of the rest of Doclo\'s API (contract section 2)', () => {
  const opened: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const item of opened.splice(0).reverse()) await item.close();
  });

  async function gatewayOn(upstreamUrl: string, args: string[] = []): Promise<Gateway> {
    const config = loadServeConfig(['--port', '0', '--store', 'memory', '--upstream-url', upstreamUrl, '--api-key', DOCLO_KEY, '--log-level', 'silent', ...args], {});
    const gateway = await startGateway({ ...config, simulate: false }, testLogger('pass-through gateway'));
    opened.push(gateway);
    return gateway;
  }
  async function simulator(): Promise<Simulator> {
    const sim = await createSimulator({ apiKey: DOCLO_KEY, seed: 5 });
    opened.push(sim);
    return sim;
  }
  async function recording(answer: Parameters<typeof startRecordingUpstream>[0]): Promise<RecordingUpstream> {
    const upstream = await startRecordingUpstream(answer);
    opened.push(upstream);
    return upstream;
  }

  it("answers GET /api/v1/flows and /flows/:flowId with Doclo's status, body and X-RateLimit-* as they are", async () => {
    const sim = await simulator();
    const gateway = await gatewayOn(`${sim.url}/api/v1`);
    for (const path of ['/flows', '/flows?limit=2', '/flows/invoice-extractor?version=1.0.0', '/flows/no-such-flow']) {
      const direct = await fetch(`${sim.url}/api/v1${path}`, { headers: { authorization: `Bearer ${DOCLO_KEY}` } });
      const through = await fetch(`${gateway.url}/api/v1${path}`);
      expect(through.status, path).toBe(direct.status);
      expect(await through.json(), path).toEqual(await direct.json());
      for (const name of ['x-ratelimit-limit', 'x-ratelimit-remaining']) expect(through.headers.get(name), `${path} ${name}`).toMatch(/^\d+$/);
      expect(through.headers.get('x-ratelimit-reset')).toMatch(/^\d+$/);
      expect(through.headers.get('content-type')).toMatch(/application\/json/);
    }
    expect((await getJson(`${gateway.url}/api/v1/flows/no-such-flow`)).body.error.code).toBe('FLOW_NOT_FOUND');
  });

  it("sends the gateway's key, never the caller's credentials, cookies or hop-by-hop headers, and returns no Doclo cookie", async () => {
    const upstream = await recording((_req, res) => {
      res.writeHead(200, {
        'content-type': 'application/json', 'x-ratelimit-limit': '60', 'x-ratelimit-remaining': '59', 'x-ratelimit-reset': '2000000000',
        'set-cookie': 'doclo_session=secret', 'keep-alive': 'timeout=5', 'x-doclo-trace': 't1',
      }).end('{"schemas":[]}');
    });
    const gateway = await gatewayOn(upstream.baseUrl);
    const answer = await rawRequest(`${gateway.url}/api/v1/schemas?kind=invoice`, {
      headers: { authorization: 'Bearer callers-own-key', cookie: 'session=caller', connection: 'keep-alive, x-hop', 'x-hop': 'drop-me', accept: 'application/json', 'x-request-id': 'r1' },
    });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ schemas: [] });
    expect(answer.headers).toMatchObject({ 'x-ratelimit-limit': '60', 'x-ratelimit-remaining': '59', 'x-ratelimit-reset': '2000000000', 'x-doclo-trace': 't1' });
    expect(answer.headers['set-cookie']).toBeUndefined();
    const [sent] = upstream.received;
    expect(sent).toMatchObject({ method: 'GET', url: '/api/v1/schemas?kind=invoice' });
    expect(sent!.headers.authorization).toBe(`Bearer ${DOCLO_KEY}`);
    expect(sent!.headers).toMatchObject({ accept: 'application/json', 'x-request-id': 'r1' });
    for (const name of ['cookie', 'x-hop']) expect(sent!.headers[name], name).toBeUndefined();
  });

  it('streams answers: the first bytes reach the caller before Doclo has sent the rest', async () => {
    let finish: (() => void) | undefined;
    const upstream = await recording((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(Buffer.alloc(64 * 1024, 1));
      finish = () => res.end(Buffer.alloc(64 * 1024, 2));
    });
    const gateway = await gatewayOn(upstream.baseUrl);
    const answer = await fetch(`${gateway.url}/api/v1/assets/bundle`);
    const reader = answer.body!.getReader();
    let received = 0;
    while (received < 64 * 1024) received += (await reader.read()).value!.length;
    expect(finish).toBeDefined(); // the caller holds the first half while Doclo still holds the rest
    finish!();
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) received += chunk.value.length;
    expect(received).toBe(128 * 1024);
  });

  it('with --proxy-writes streams request bodies on: Doclo gets the first chunk before the caller sent the last', async () => {
    const upstream = await recording((req, res) => {
      req.on('end', () => res.writeHead(202, { 'content-type': 'application/json' }).end('{"accepted":true}'));
    });
    const gateway = await gatewayOn(upstream.baseUrl, ['--proxy-writes']);
    let push: ((text: string | null) => void) | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        push = (text) => (text === null ? controller.close() : controller.enqueue(new TextEncoder().encode(text)));
      },
    });
    const answering = fetch(`${gateway.url}/api/v1/observability/ingest`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body, duplex: 'half' } as RequestInit);
    push!('{"event":1}\n');
    await eventually(() => upstream.received[0]?.chunks.length === 1, 5000);
    expect(upstream.received[0]!.ended).toBe(false);
    push!('{"event":2}\n');
    push!(null);
    const answer = await answering;
    expect(answer.status).toBe(202);
    expect(await answer.json()).toEqual({ accepted: true });
    expect(Buffer.concat(upstream.received[0]!.chunks).toString()).toBe('{"event":1}\n{"event":2}\n');
    expect(upstream.received[0]!.headers['content-type']).toBe('application/x-ndjson');
  });

  it('refuses what it must not pass on, without asking Doclo', async () => {
    const upstream = await recording((_req, res) => res.writeHead(200).end('{}'));
    const gateway = await gatewayOn(upstream.baseUrl, ['--request-body-limit', '1kb']);
    const cases: Array<[string, string, number, string]> = [
      ['POST', '/api/v1/prompts', 404, 'NOT_FOUND'], // writes need --proxy-writes
      ['DELETE', '/api/v1/flows/invoice-extractor', 404, 'NOT_FOUND'],
      ['GET', '/api/v1/flows/bad%20id', 404, 'FLOW_NOT_FOUND'],
      ['GET', '/api/v1/flows/%2e%2e/runs', 404, 'NOT_FOUND'],
      ['GET', '/api/v1/definitions/%2E%2E%2Fadmin', 404, 'NOT_FOUND'],
      ['GET', '/api/v1/definitions/%E0%A4%A', 404, 'NOT_FOUND'],
      ['GET', '/api/v1/runs/exec_1/artifacts', 404, 'NOT_FOUND'], // runs are the gateway's own
      ['GET', '/api/v1/flows/f/run', 404, 'NOT_FOUND'],
    ];
    for (const [method, path, status, code] of cases) {
      const answer = await rawRequest(`${gateway.url}${path}`, { method });
      expect(answer.status, `${method} ${path}`).toBe(status);
      expect(JSON.parse(answer.body).error.code, `${method} ${path}`).toBe(code);
    }
    expect(upstream.received).toEqual([]);
  });

  it('answers 413 for a passed-through body over the limit', async () => {
    const upstream = await recording((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200).end('{}'));
    });
    const gateway = await gatewayOn(upstream.baseUrl, ['--proxy-writes', '--request-body-limit', '1kb']);
    const answer = await rawRequest(`${gateway.url}/api/v1/prompts`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x'.repeat(4096) });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body).error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('with auth on: a token for reads, an admin token for writes', async () => {
    const upstream = await recording((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    const gateway = await gatewayOn(upstream.baseUrl, ['--proxy-writes', '--jwt-secret', JWT_SECRET]);
    expect((await getJson(`${gateway.url}/api/v1/flows`)).status).toBe(401);
    const alice = { authorization: `Bearer ${await token('alice')}` };
    expect((await getJson(`${gateway.url}/api/v1/flows`, alice)).status).toBe(200);
    expect(upstream.received[0]!.headers.authorization).toBe(`Bearer ${DOCLO_KEY}`);
    const write = await rawRequest(`${gateway.url}/api/v1/prompts`, { method: 'POST', headers: alice, body: '{}' });
    expect(write.status).toBe(403);
    expect(upstream.received).toHaveLength(1);
    const admin = await rawRequest(`${gateway.url}/api/v1/prompts`, { method: 'POST', headers: { authorization: `Bearer ${await token('root', true)}`, 'content-type': 'application/json' }, body: '{"p":1}' });
    expect(admin.status).toBe(200);
    expect(upstream.received).toHaveLength(2);
    expect(Buffer.concat(upstream.received[1]!.chunks).toString()).toBe('{"p":1}');
  });

  it('answers 503 when Doclo cannot be reached', async () => {
    const upstream = await recording((_req, res) => res.destroy());
    const gateway = await gatewayOn(upstream.baseUrl);
    const answer = await getJson(`${gateway.url}/api/v1/flows`);
    expect(answer.status).toBe(503);
    expect(answer.body.error.code).toBe('UPSTREAM_UNAVAILABLE');
  });
});
