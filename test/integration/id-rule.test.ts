import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadServeConfig } from '../../src/config/serve-config.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { signBody } from '../../src/webhooks/signature-verifier.js';
import { getJson, postJson, startBody, useStack } from '../support/gateway-harness.js';
import { rawRequest, startRecordingUpstream, type RecordingUpstream } from '../support/recording-upstream.js';
import { testLogger } from '../support/test-logs.js';

/** Ids outside contract section 2's rule, each of which a signed event once got stored with. */
const HOSTILE_IDS = ['.', '..', '../../etc/passwd', 'a\r\nSet-Cookie: x=1', '__proto__', '*', '-x', '_x', ':x', 'a/b', 'a b', 'x'.repeat(257), ''];
/** Names that an object lookup finds on Object.prototype. */
const PROTOTYPE_KEYS = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];

function answerJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

/** Finding 7 of issue 12: dot segments and ids outside the rule never reach Doclo; answers about another id are not stored. */
describe('the id rule on routes and upstream answers', () => {
  let upstream: RecordingUpstream;
  let gateway: Gateway;
  beforeAll(async () => {
    upstream = await startRecordingUpstream((req, res) => {
      const url = req.url ?? '';
      // Doclo, as a hostile or broken upstream: every lookup and start answers a run of another id.
      if (req.method === 'GET' && url.startsWith('/api/v1/runs/')) return answerJson(res, 200, { id: 'exec_other', flowId: 'f', status: 'success' });
      if (req.method === 'POST' && url.endsWith('/cancel')) return answerJson(res, 200, { id: 'exec_other', flowId: 'f', status: 'cancelled' });
      if (req.method === 'POST' && url.startsWith('/api/v1/flows/')) {
        req.resume();
        return req.on('end', () => answerJson(res, 200, { id: '../escape', flowId: 'f', status: 'queued' }));
      }
      return answerJson(res, 200, { looks: 'like the API root' });
    });
    const config = loadServeConfig(['--port', '0', '--store', 'memory', '--upstream-url', upstream.baseUrl, '--api-key', 'dc_test_key', '--webhook-secret', 's', '--log-level', 'silent'], {});
    gateway = await startGateway({ ...config, simulate: false }, testLogger('gateway'));
  });
  afterAll(async () => {
    await gateway?.close();
    await upstream?.close();
  });

  it('answers 404 for run and flow ids outside the rule, percent-encoded dot segments included, without an upstream call', async () => {
    const cases: Array<[string, string, string]> = [
      ['GET', '/api/v1/runs/%2e%2e', 'EXECUTION_NOT_FOUND'],
      ['GET', '/api/v1/runs/%2E', 'EXECUTION_NOT_FOUND'],
      ['GET', '/api/v1/runs/.hidden', 'EXECUTION_NOT_FOUND'],
      ['GET', '/api/v1/runs/%2e%2e/timeline', 'EXECUTION_NOT_FOUND'],
      ['GET', '/api/v1/runs/%2e%2e/deliveries', 'EXECUTION_NOT_FOUND'],
      ['GET', '/api/v1/runs/%2e%2e/events', 'EXECUTION_NOT_FOUND'],
      ['POST', '/api/v1/runs/%2e%2e/cancel', 'EXECUTION_NOT_FOUND'],
      ['POST', '/api/v1/runs/a%2F..%2F..%2Fx/cancel', 'EXECUTION_NOT_FOUND'],
      ['POST', '/api/v1/flows/%2e%2e/run', 'FLOW_NOT_FOUND'],
      ['POST', '/api/v1/flows/_f/run', 'FLOW_NOT_FOUND'],
      ['GET', '/api/v1/flows/%2e%2e', 'FLOW_NOT_FOUND'],
    ];
    for (const [method, path, code] of cases) {
      const answer = await rawRequest(`${gateway.url}${path}`, { method, headers: { 'content-type': 'application/json' }, ...(method === 'POST' ? { body: JSON.stringify(startBody()) } : {}) });
      expect(answer.status, `${method} ${path}`).toBe(404);
      const body = JSON.parse(answer.body) as { error: { code: string } };
      // Routes the gateway does not serve (timeline, deliveries here) may answer NOT_FOUND; none may reach Doclo.
      expect([code, 'NOT_FOUND'], `${method} ${path}`).toContain(body.error.code);
    }
    expect(upstream.received.map((r) => `${r.method} ${r.url}`)).toEqual([]);
  });

  it('refuses, and does not store, an upstream answer about another id than the one asked', async () => {
    const lookup = await getJson(`${gateway.url}/api/v1/runs/exec_asked`);
    expect(lookup.status).toBe(502);
    expect(lookup.body.error.code).toBe('UPSTREAM_BAD_RESPONSE');
    const cancel = await postJson(`${gateway.url}/api/v1/runs/exec_asked2/cancel`, '');
    expect(cancel.status).toBe(502);
    const start = await postJson(`${gateway.url}/api/v1/flows/f/run`, startBody());
    expect(start.status).toBe(502);
    expect((await getJson(`${gateway.url}/api/v1/runs`)).body.data).toEqual([]);
    upstream.received.length = 0;
  });
});

/** Findings 6 and 15 of issue 12: prototype keys as statuses, and signed events with ids outside the rule. */
describe('signed webhooks and list queries with hostile values', () => {
  const fixture = useStack();
  let dir: string;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function sendSigned(secret: string, body: unknown): Promise<{ status: number; body: any }> {
    const text = JSON.stringify(body);
    const response = await fetch(`${fixture.stack.url}/webhooks/doclo`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-doclo-signature': signBody(secret, text) }, body: text });
    return { status: response.status, body: await response.json() };
  }

  for (const store of ['memory', 'sqlite'] as const) {
    it(`answers 400 for a status named like an Object.prototype key (${store} store)`, async () => {
      dir = mkdtempSync(join(tmpdir(), 'rungate-status-'));
      await fixture.start({ sim: { runMs: 60_000 }, args: store === 'sqlite' ? ['--store', `sqlite:${join(dir, 'r.db')}`] : [] });
      for (const key of PROTOTYPE_KEYS) {
        const answer = await getJson(`${fixture.stack.url}/api/v1/runs?status=${encodeURIComponent(key)}`);
        expect(answer.status, key).toBe(400);
        expect(answer.body.error.code).toBe('INVALID_INPUT');
      }
    });
  }

  it('refuses a signed event whose status is a prototype key, and the run still takes its real final state', async () => {
    await fixture.start({ sim: { runMs: 60_000 } });
    const started = await postJson(`${fixture.stack.url}/api/v1/flows/f/run`, startBody());
    const id = started.body.id as string;
    for (const status of PROTOTYPE_KEYS) {
      const answer = await sendSigned(fixture.stack.sim.webhookSecret, { event: 'execution.completed', timestamp: new Date().toISOString(), data: { id, flowId: 'f', status } });
      expect(answer.status, status).toBe(400);
      expect(answer.body.error.code).toBe('RUNGATE_ERR_WEBHOOK_PAYLOAD');
    }
    expect((await getJson(`${fixture.stack.url}/api/v1/runs/${id}`)).body.status).toBe('queued');
    const final = await sendSigned(fixture.stack.sim.webhookSecret, { event: 'execution.completed', timestamp: new Date().toISOString(), data: { id, flowId: 'f', status: 'success', output: { ok: true } } });
    expect(final).toEqual({ status: 200, body: { received: true, duplicate: false } });
    expect((await getJson(`${fixture.stack.url}/api/v1/runs/${id}`)).body).toMatchObject({ status: 'success', output: { ok: true } });
  });

  it('refuses signed events whose data.id or data.flowId is outside the id rule with 400, and stores nothing', async () => {
    await fixture.start();
    for (const bad of HOSTILE_IDS) {
      for (const data of [{ id: bad, flowId: 'f' }, { id: 'exec_fine1', flowId: bad }]) {
        const answer = await sendSigned(fixture.stack.sim.webhookSecret, { event: 'execution.completed', timestamp: new Date().toISOString(), data: { ...data, status: 'success' } });
        expect(answer.status, JSON.stringify(data)).toBe(400);
        expect(answer.body.error.code).toBe('RUNGATE_ERR_WEBHOOK_PAYLOAD');
      }
    }
    expect((await getJson(`${fixture.stack.url}/api/v1/runs?limit=500`)).body.data).toEqual([]);
  });
});
