import { connect } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { SignJWT } from 'jose';
import { pino, type Logger } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { signBody } from '../../src/webhooks/signature-verifier.js';
import { startBody, useStack, WsProbe } from '../support/gateway-harness.js';

/** A logger whose lines the test reads (level ≥ 50 is error). */
function recordingLogger(): { logger: Logger; lines: Array<{ level: number; msg: string } & Record<string, unknown>> } {
  const lines: Array<{ level: number; msg: string } & Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) });
  return { logger, lines };
}

/** Sends a request's head and the first part of its body over a raw socket, then waits; resolves with the answer's text. */
function partialRequest(url: string, path: string, head: Record<string, string>, first: Buffer, rest?: Buffer, restAfterMs = 0): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.on('error', (error) => (answer === '' ? reject(error) : resolve(answer)));
    socket.on('close', () => resolve(answer));
    const lines = [`POST ${path} HTTP/1.1`, `Host: ${hostname}:${port}`, ...Object.entries(head).map(([k, v]) => `${k}: ${v}`), '', ''];
    socket.write(lines.join('\r\n'));
    socket.write(first);
    if (rest) setTimeout(() => socket.write(rest), restAfterMs);
  });
}

const statusOf = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);

describe('browser origins (finding 1, contract section 5)', () => {
  const fixture = useStack();

  it('by default refuses pages of other origins on /ws, event streams and every REST write; own origin and no Origin pass', async () => {
    const stack = await fixture.start();
    const evil = 'https://evil.example';
    await expect(WsProbe.connect(stack.wsUrl, { origin: evil })).rejects.toThrow(/403/);
    await fixture.probe({ origin: stack.url });
    await fixture.probe();

    const started = await fetch(`${stack.url}/api/v1/flows/f/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(startBody()) });
    const id = ((await started.json()) as { id: string }).id;
    // A body-less POST is a "simple" request: no preflight, so the answer itself must refuse.
    for (const headers of [{ origin: evil }, { 'sec-fetch-site': 'cross-site' }, { origin: 'null' }] as Array<Record<string, string>>) {
      const cancel = await fetch(`${stack.url}/api/v1/runs/${id}/cancel`, { method: 'POST', headers });
      expect(cancel.status).toBe(403);
      expect(((await cancel.json()) as { error: { code: string } }).error.code).toBe('ORIGIN_NOT_ALLOWED');
    }
    const start = await fetch(`${stack.url}/api/v1/flows/f/run`, { method: 'POST', headers: { origin: evil, 'content-type': 'text/plain' }, body: JSON.stringify(startBody()) });
    expect(start.status).toBe(403);
    expect(stack.sim.stats().requests.cancel).toBe(0);
    expect(stack.sim.stats().requests.run).toBe(1);

    const stream = await fetch(`${stack.url}/api/v1/events?flowId=*`, { headers: { origin: evil, accept: 'text/event-stream' } });
    expect(stream.status).toBe(403);
    await stream.body?.cancel();
    const preflight = await fetch(`${stack.url}/api/v1/runs`, { method: 'OPTIONS', headers: { origin: evil, 'access-control-request-method': 'POST' } });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();

    // The gateway's own pages, and clients that send no Origin, are unaffected.
    expect((await fetch(`${stack.url}/api/v1/runs/${id}/cancel`, { method: 'POST', headers: { origin: stack.url, 'sec-fetch-site': 'same-origin' } })).status).not.toBe(403);
    const csp = (await fetch(`${stack.url}/`)).headers.get('content-security-policy') ?? '';
    expect(csp).toMatch(/connect-src 'self'(;|$)/);
  });

  it('--allowed-origins extends the rule: that origin may connect and write, gets CORS answers and is in the page CSP', async () => {
    const stack = await fixture.start({ args: ['--allowed-origins', 'https://app.example'] });
    await fixture.probe({ origin: 'https://app.example' });
    await expect(WsProbe.connect(stack.wsUrl, { origin: 'https://app.example.evil' })).rejects.toThrow(/403/);
    const cancel = await fetch(`${stack.url}/api/v1/runs/exec_nope/cancel`, { method: 'POST', headers: { origin: 'https://app.example', 'sec-fetch-site': 'cross-site' } });
    expect(cancel.status).not.toBe(403);
    expect(cancel.headers.get('access-control-allow-origin')).toBe('https://app.example');
    const csp = (await fetch(`${stack.url}/`)).headers.get('content-security-policy') ?? '';
    expect(csp).toContain("connect-src 'self' https://app.example;");
  });
});

describe('request bodies (findings 2, 3, 8)', () => {
  const fixture = useStack();
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));

  it('decodes gzip, deflate and br; the limit counts decoded bytes and decoding stops there (413); unknown encodings 415, corrupt ones 400', async () => {
    const stack = await fixture.start({ args: ['--request-body-limit', '64kb'] });
    const start = (body: Buffer, encoding: string) =>
      fetch(`${stack.url}/api/v1/flows/f/run`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': encoding }, body: new Uint8Array(body) });
    for (const [encoding, encode] of [['gzip', gzipSync], ['deflate', deflateSync], ['br', brotliCompressSync]] as const) {
      expect((await start(encode(json(startBody())), encoding)).status, encoding).toBe(200);
      // 8 MiB of zeros, 8 KiB compressed: refused once the decoded size passes 64 KiB.
      const bomb = encode(json({ input: { text: '0'.repeat(8 * 1024 * 1024) } }));
      const answer = await start(bomb, encoding);
      expect(answer.status, encoding).toBe(413);
      expect(((await answer.json()) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');
    }
    const unknown = await start(json(startBody()), 'compress');
    expect(unknown.status).toBe(415);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('UNSUPPORTED_CONTENT_ENCODING');
    const corrupt = gzipSync(json(startBody())).subarray(0, 20);
    const bad = await start(Buffer.concat([corrupt, Buffer.from('garbage')]), 'gzip');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('BODY_NOT_DECODABLE');
    expect(stack.sim.stats().requests.run).toBe(3);
  });

  it('answers client mistakes with 4xx, never 500, and logs them at warn at most', async () => {
    const { logger, lines } = recordingLogger();
    const stack = await fixture.start({ logger });
    expect((await fetch(`${stack.url}/api/v1/runs/%E0%A4%A`)).status).toBe(400);
    expect((await fetch(`${stack.url}/api/v1/runs/%zz/cancel`, { method: 'POST' })).status).toBe(400);
    const deep = `{"input":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}`;
    const answer = await fetch(`${stack.url}/api/v1/flows/f/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: deep });
    expect(answer.status).toBe(400);
    expect(((await answer.json()) as { error: { message: string } }).error.message).toMatch(/deeper than/);
    const corrupt = await fetch(`${stack.url}/api/v1/flows/f/run`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: 'not gzip at all' });
    expect(corrupt.status).toBe(400);
    expect(stack.sim.stats().requests.run).toBe(0);
    expect(lines.filter((line) => line.level >= 50)).toEqual([]);
  });

  it('cuts off a body that pauses too long with 408 and closes the connection', async () => {
    const stack = await fixture.start({ args: ['--body-idle-timeout-ms', '300'] });
    const began = performance.now();
    const raw = await partialRequest(stack.url, '/api/v1/flows/f/run', { 'content-type': 'application/json', 'content-length': '1000' }, Buffer.from('{"input":'));
    expect(statusOf(raw)).toBe(408);
    expect(raw).toMatch(/REQUEST_TIMEOUT/);
    expect(performance.now() - began).toBeLessThan(5000);
    const webhook = await partialRequest(stack.url, '/webhooks/doclo', { 'content-type': 'application/json', 'content-length': '1000' }, Buffer.from('{"event":'));
    expect(statusOf(webhook)).toBe(408);
  });

  it('bounds the bytes of bodies held at once: past the budget 503 with Retry-After, REST and webhooks alike; room comes back', async () => {
    const stack = await fixture.start({ args: ['--request-body-limit', '4kb', '--request-bodies-in-flight', '8kb', '--webhook-body-limit', '4kb', '--webhook-bodies-in-flight', '8kb', '--body-idle-timeout-ms', '5000'] });
    for (const path of ['/api/v1/flows/f/run', '/webhooks/doclo']) {
      const head = { 'content-type': 'application/json', 'content-length': '4000' };
      const chunk = Buffer.alloc(3000, 0x20);
      // Two senders hold 3000 bytes each and pause; the third finds no room (8 KiB in all).
      const holders = [partialRequest(stack.url, path, head, chunk, Buffer.alloc(1000, 0x20), 1500), partialRequest(stack.url, path, head, chunk, Buffer.alloc(1000, 0x20), 1500)];
      await new Promise((resolve) => setTimeout(resolve, 300));
      const refused = await partialRequest(stack.url, path, head, Buffer.concat([chunk, Buffer.alloc(1000, 0x20)]));
      expect(statusOf(refused), path).toBe(503);
      expect(refused).toMatch(/Retry-After: 2/i);
      expect(refused).toMatch(/BODY_BUDGET_EXHAUSTED/);
      // The holders finish (spaces are not JSON: 400 / 401), and give their room back.
      for (const answer of await Promise.all(holders)) expect([400, 401], path).toContain(statusOf(answer));
      const after = await partialRequest(stack.url, path, head, Buffer.concat([chunk, Buffer.alloc(1000, 0x20)]));
      expect([400, 401], path).toContain(statusOf(after));
    }
  });

  it('with --per-run-webhook-secret never parses an unverified body to find its run', async () => {
    const stack = await fixture.start({ args: ['--per-run-webhook-secret'] });
    const started = await fetch(`${stack.url}/api/v1/flows/f/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(startBody()) });
    const id = ((await started.json()) as { id: string }).id;
    const forged = JSON.stringify({ event: 'execution.completed', timestamp: new Date().toISOString(), data: { id, flowId: 'f', status: 'success', output: { pad: 'x'.repeat(2 * 1024 * 1024) } } });
    const parse = vi.spyOn(JSON, 'parse');
    try {
      const answer = await fetch(`${stack.url}/webhooks/doclo`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-doclo-signature': signBody('wrong', forged) }, body: forged });
      expect(answer.status).toBe(401);
      expect(parse.mock.calls.filter(([text]) => typeof text === 'string' && text.length > 1024 * 1024)).toEqual([]);
    } finally {
      parse.mockRestore();
    }
  });
});

describe('--trust-proxy and tokens (findings 12, 13) and the public URL (finding 16)', () => {
  const fixture = useStack();

  it('with --trust-proxy 1 the per-IP limit counts the address the proxy saw, not one the client wrote', async () => {
    const stack = await fixture.start({ args: ['--trust-proxy', '1', '--rate-limit-per-ip', '3'] });
    const statuses: number[] = [];
    // The client writes a fresh address each time; the one proxy in front appends the real one.
    for (let i = 0; i < 5; i++) statuses.push((await fetch(`${stack.url}/api/v1/runs`, { headers: { 'x-forwarded-for': `10.9.9.${i}, 203.0.113.7` } })).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
  });

  it('refuses a token whose exp lies beyond --jwt-max-lifetime-s', async () => {
    const secret = 's'.repeat(40);
    const stack = await fixture.start({ args: ['--jwt-secret', secret, '--jwt-max-lifetime-s', '3600'] });
    const sign = (exp: number) => new SignJWT({ sub: 'alice', exp }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));
    const now = Math.floor(Date.now() / 1000);
    expect((await fetch(`${stack.url}/api/v1/runs`, { headers: { authorization: `Bearer ${await sign(now + 600)}` } })).status).toBe(200);
    for (const exp of [1e300, now + 7200]) expect((await fetch(`${stack.url}/api/v1/runs`, { headers: { authorization: `Bearer ${await sign(exp)}` } })).status, String(exp)).toBe(401);
  });

  it('warns at start when a real Doclo key would have webhooks sent to an address Doclo cannot reach', async () => {
    const { logger, lines } = recordingLogger();
    await fixture.start({ logger, args: ['--host', '0.0.0.0', '--api-key', 'dc_test_key'] });
    const warning = lines.find((line) => line.level === 40 && line.msg.startsWith('webhooks cannot arrive'));
    expect(warning?.msg).toMatch(/0\.0\.0\.0.*--public-url \(RUNGATE_PUBLIC_URL\)/);
  });

  it('says nothing of the kind for a public URL Doclo can reach', async () => {
    const { logger, lines } = recordingLogger();
    await fixture.start({ logger, args: ['--public-url', 'https://rungate.example.com', '--api-key', 'dc_test_key'] });
    expect(lines.some((line) => line.msg.startsWith('webhooks cannot arrive'))).toBe(false);
  });
});
