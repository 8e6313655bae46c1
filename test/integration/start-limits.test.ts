import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadServeConfig } from '../../src/config/serve-config.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { eventually, getJson, postJson, startBody, useStack } from '../support/gateway-harness.js';

/** The three X-RateLimit-* headers Doclo's SDK needs (all integers) to fill its rateLimitInfo. */
function rateLimitInfo(headers: Headers): { limit: number; remaining: number; reset: number; retryAfter: number } {
  const read = (name: string) => {
    const value = headers.get(name);
    expect(value, name).toMatch(/^\d+$/);
    return Number(value);
  };
  return { limit: read('x-ratelimit-limit'), remaining: read('x-ratelimit-remaining'), reset: read('x-ratelimit-reset'), retryAfter: read('retry-after') };
}

describe("starts and Doclo's limits (contract section 2)", () => {
  const t = useStack();

  it("answers a start that meets Doclo's 429 at once with 429 RATE_LIMITED and Doclo's headers, and creates no run later", async () => {
    // Three requests a minute, spent by another client of the same Doclo account: the gateway's
    // start meets a 429 it could not foresee, whose Retry-After is most of a minute away.
    const stack = await t.start({ sim: { runMs: 30_000, rateLimit: 3 } });
    for (let i = 0; i < 3; i++) expect((await postJson(`${stack.sim.url}/api/v1/flows/other/run`, startBody())).status).toBe(200);

    const sentAt = performance.now();
    const refused = await postJson(`${stack.url}/api/v1/flows/limited/run`, startBody());
    const tookMs = performance.now() - sentAt;
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('RATE_LIMITED');
    const info = rateLimitInfo(refused.headers);
    expect(info).toMatchObject({ limit: 3, remaining: 0 });
    expect(info.retryAfter).toBeGreaterThan(2);
    expect(info.reset).toBeGreaterThan(Date.now() / 1000);
    // Not held for the window (it was 60.8 s): Doclo answered at once, and so does the gateway.
    expect(tookMs).toBeLessThan(1500);

    // The next start is refused by the gateway's own budget, without asking Doclo again.
    const again = await postJson(`${stack.url}/api/v1/flows/limited/run`, startBody());
    expect(again.status).toBe(429);
    expect(rateLimitInfo(again.headers)).toMatchObject({ limit: 3, remaining: 0 });
    expect(stack.sim.stats().requests).toMatchObject({ run: 4, rateLimited: 1 });
    expect(stack.sim.stats().runs.total).toBe(3);
    expect((await getJson(`${stack.url}/api/v1/runs?flowId=limited`)).body.data).toHaveLength(0);
  });

  it('a window spent through the gateway itself: the next start is answered 429 without asking Doclo', async () => {
    const stack = await t.start({ sim: { runMs: 30_000, rateLimit: 3 } });
    for (let i = 0; i < 3; i++) expect((await postJson(`${stack.url}/api/v1/flows/limited/run`, startBody())).status).toBe(200);
    const refused = await postJson(`${stack.url}/api/v1/flows/limited/run`, startBody());
    expect(refused.status).toBe(429);
    expect(rateLimitInfo(refused.headers)).toMatchObject({ limit: 3, remaining: 0 });
    expect(stack.sim.stats().requests).toMatchObject({ run: 3, rateLimited: 0 });
    expect((await getJson(`${stack.url}/api/v1/runs?flowId=limited`)).body.data).toHaveLength(3);
  });

  it('wait:true past its timeout answers 504 EXECUTION_TIMEOUT with details.executionId, and the run goes on', async () => {
    const stack = await t.start({ sim: { runMs: 400, failRate: 0 } });
    const answer = await postJson(`${stack.url}/api/v1/flows/sync/run`, startBody({ wait: true, timeout: 30 }));
    expect(answer.status).toBe(504);
    expect(answer.body.error).toMatchObject({ code: 'EXECUTION_TIMEOUT', details: { executionId: expect.stringMatching(/^exec_/), timeoutMs: 30 } });
    const id = answer.body.error.details.executionId as string;
    const later = await getJson(`${stack.url}/api/v1/runs/${id}`, { prefer: 'wait=10' });
    expect(later.body).toMatchObject({ id, status: 'success' });
  });

  it("the gateway's own REST limit answers 429 with Retry-After and X-RateLimit-* as Doclo does", async () => {
    const stack = await t.start({ args: ['--rate-limit-per-ip', '2'] });
    for (let i = 0; i < 2; i++) expect((await getJson(`${stack.url}/api/v1/runs`)).status).toBe(200);
    const refused = await getJson(`${stack.url}/api/v1/runs`);
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('RATE_LIMITED');
    const info = rateLimitInfo(refused.headers);
    expect(info).toMatchObject({ limit: 2, remaining: 0 });
    expect(info.reset).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000));
    expect(info.reset).toBeLessThanOrEqual(Math.ceil(Date.now() / 1000) + 60);
    expect(info.retryAfter).toBeGreaterThan(0);
  });
});

describe('a start whose caller leaves', () => {
  let gateway: Gateway | undefined;
  let doclo: Server | undefined;
  afterEach(async () => {
    await gateway?.close();
    await new Promise<void>((resolve) => (doclo ? doclo.close(() => resolve()) : resolve()));
    gateway = doclo = undefined;
  });

  it('is not retried after the caller went away: no run can be created later', async () => {
    // A Doclo that is busy: 503 with Retry-After 1, so the gateway's start waits 1 s to retry.
    const starts: number[] = [];
    doclo = createServer((req, res) => {
      req.resume();
      if (req.url?.endsWith('/run')) starts.push(Date.now());
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' }).end(JSON.stringify({ error: { code: 'SERVICE_UNAVAILABLE', message: 'busy' } }));
    });
    await new Promise<void>((resolve) => doclo!.listen(0, '127.0.0.1', resolve));
    const { port } = doclo.address() as AddressInfo;
    const config = loadServeConfig(['--port', '0', '--store', 'memory', '--upstream-url', `http://127.0.0.1:${port}/api/v1`, '--log-level', 'silent'], {});
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
    gateway = await startGateway({ ...config, simulate: false }, logger);

    const controller = new AbortController();
    const leaving = fetch(`${gateway.url}/api/v1/flows/f/run`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(startBody()), signal: controller.signal,
    }).catch((error: unknown) => error);
    await eventually(() => starts.length === 1, 5000);
    controller.abort();
    await leaving;
    // The gateway noticed (the abandoned start surfaced as the caller's departure) ...
    await eventually(() => lines.some((line) => line.includes('the caller left before its answer')), 5000);
    // ... and its retry, due 1 s after the first attempt, never comes.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(starts).toHaveLength(1);
  });
});
