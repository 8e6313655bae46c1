import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signBody } from '../../src/webhooks/signature-verifier.js';
import { getJson, startStack, WsProbe, type Stack } from '../support/gateway-harness.js';
import { rawRequest } from '../support/recording-upstream.js';

/** Contract section 2's id rule, written out here rather than taken from the code under test. */
const CONTRACT_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,255}$/;
const isValidId = (id: string) => CONTRACT_ID.test(id);

/** Ids as an attacker writes them: any text, dot segments, near-valid ids, prototype keys, paths. */
const hostileId = fc.oneof(
  fc.string({ minLength: 1 }),
  fc.string({ unit: 'grapheme', minLength: 1 }),
  fc.constantFrom('.', '..', '...', '.a', 'a..b', '../runs', '..\\x', '__proto__', 'constructor', '*', '-x', 'a\r\nSet-Cookie: x=1', 'a\u0000b'),
  fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,20}$/),
);

/** Every byte percent-encoded, in upper or lower case hex (`%2e%2e`, `%2E%2E`). */
function percentEncodeAll(text: string, upper: boolean): string {
  return [...Buffer.from(text, 'utf8')].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).map((e) => (upper ? e.toUpperCase() : e)).join('');
}

/** The ways an id reaches a path: as encodeURIComponent writes it, fully percent-encoded, and raw where that is still a path segment. */
const encodedId = hostileId.chain((id) =>
  fc.tuple(
    fc.constant(id),
    fc.constantFrom<'component' | 'all-lower' | 'all-upper' | 'raw'>('component', 'all-lower', 'all-upper', 'raw').map((how) => {
      if (how === 'component' || (how === 'raw' && !/^[\x21-\x7e]+$/.test(id)) || (how === 'raw' && /[/?#%\\]/.test(id))) return encodeURIComponent(id);
      if (how === 'raw') return id;
      return percentEncodeAll(id, how === 'all-upper');
    }),
  ),
);

/**
 * Property-based attacks on a live gateway: whatever arrives, no 5xx, no crash, and no state
 * change without a valid signature.
 */
describe('hostile input (property-based)', () => {
  let stack: Stack;
  /** Runs created by validly signed events (which may legitimately exist). */
  const validIds = new Set<string>();
  beforeAll(async () => {
    stack = await startStack({ args: ['--webhook-body-limit', '8kb'] });
  });
  afterAll(async () => {
    await stack.close();
  });

  const runEvent = fc.record({
    event: fc.oneof(fc.constantFrom('execution.completed', 'execution.failed', 'run.completed', 'run.started'), fc.string()),
    timestamp: fc.oneof(fc.constant(new Date().toISOString()), fc.string(), fc.integer()),
    data: fc.oneof(
      fc.record({
        id: fc.oneof(fc.stringMatching(/^exec_[a-z0-9]{1,12}$/), fc.string(), fc.integer()),
        flowId: fc.oneof(fc.constant('f'), fc.string(), fc.constant(null)),
        status: fc.oneof(fc.constantFrom('success', 'failed', 'completed', 'running', 'pending', 'cancelled'), fc.string()),
        output: fc.jsonValue(),
      }),
      fc.jsonValue(),
    ),
  });
  const bodyText = fc.oneof(runEvent.map((e) => JSON.stringify(e)), fc.string(), fc.jsonValue().map((v) => JSON.stringify(v)), fc.string({ minLength: 9000, maxLength: 9500 }));
  const signature = (body: string) =>
    fc.oneof(
      fc.constant(undefined),
      fc.string(),
      fc.constant(signBody('wrong', body)),
      fc.constant(`sha256=${'0'.repeat(64)}`),
      fc.constant(signBody(stack.sim.webhookSecret, body)),
    );

  it('the receiver answers 200, 400, 401 or 413 — and writes only what a valid signature covers', async () => {
    await fc.assert(
      fc.asyncProperty(bodyText.chain((body) => fc.tuple(fc.constant(body), signature(body))), async ([body, sig]) => {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (sig !== undefined) headers['x-doclo-signature'] = sig;
        const response = await fetch(`${stack.url}/webhooks/doclo`, { method: 'POST', headers, body });
        await response.text();
        expect([200, 400, 401, 413]).toContain(response.status);
        const valid = sig === signBody(stack.sim.webhookSecret, body);
        if (response.status === 200) expect(valid).toBe(true);
        if (!valid) {
          let id: unknown;
          try {
            id = (JSON.parse(body) as { data?: { id?: unknown } }).data?.id;
          } catch {
            id = undefined;
          }
          if (typeof id === 'string' && /^[A-Za-z0-9_.:-]{1,256}$/.test(id)) {
            const known = await getJson(`${stack.url}/api/v1/runs?limit=500`);
            expect(known.body.data.some((run: { id: string; source: string }) => run.id === id && run.source === 'webhook' && !validIds.has(id))).toBe(false);
          }
        } else if (response.status === 200) {
          validIds.add((JSON.parse(body) as { data: { id: string } }).data.id);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('ids of any shape and percent-encoding in run and flow paths: 4xx, and outside the id rule a 404 without an upstream call', async () => {
    await fc.assert(
      fc.asyncProperty(encodedId, async ([id, encoded]) => {
        const valid = isValidId(id);
        const before = stack.sim.stats().requests;
        const answers = [
          ['GET', `/api/v1/runs/${encoded}`, 'EXECUTION_NOT_FOUND'],
          ['POST', `/api/v1/runs/${encoded}/cancel`, 'EXECUTION_NOT_FOUND'],
          ['GET', `/api/v1/runs/${encoded}/events`, 'EXECUTION_NOT_FOUND'],
          ['POST', `/api/v1/flows/${encoded}/run`, 'FLOW_NOT_FOUND'],
          ['GET', `/api/v1/flows/${encoded}`, 'FLOW_NOT_FOUND'],
        ] as const;
        for (const [method, path, code] of answers) {
          const answer = await rawRequest(`${stack.url}${path}`, { method, headers: { accept: 'application/json' } });
          expect(answer.status, `${method} ${path}`).toBeGreaterThanOrEqual(200);
          expect(answer.status, `${method} ${path}`).toBeLessThan(500);
          if (!valid) {
            expect(answer.status, `${method} ${path}`).toBe(404);
            expect([code, 'NOT_FOUND'], `${method} ${path}`).toContain((JSON.parse(answer.body) as { error: { code: string } }).error.code);
          }
        }
        if (!valid) {
          const after = stack.sim.stats().requests;
          expect({ get: after.get, cancel: after.cancel, run: after.run }).toEqual({ get: before.get, cancel: before.cancel, run: before.run });
        }
      }),
      { numRuns: 150 },
    );
  });

  it('a validly signed event is stored only when its data.id and data.flowId follow the id rule; otherwise 400', async () => {
    await fc.assert(
      fc.asyncProperty(hostileId, fc.oneof(fc.constant('f'), hostileId), async (id, flowId) => {
        const body = JSON.stringify({ event: 'execution.completed', timestamp: new Date().toISOString(), data: { id, flowId, status: 'success' } });
        const response = await fetch(`${stack.url}/webhooks/doclo`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-doclo-signature': signBody(stack.sim.webhookSecret, body) }, body });
        const answer = (await response.json()) as { error?: { code: string } };
        if (isValidId(id) && isValidId(flowId)) {
          expect(response.status).toBe(200);
          validIds.add(id);
        } else {
          expect(response.status).toBe(400);
          expect(answer.error?.code).toBe('RUNGATE_ERR_WEBHOOK_PAYLOAD');
        }
      }),
      { numRuns: 200 },
    );
    const listed = (await getJson(`${stack.url}/api/v1/runs?limit=500`)).body.data as Array<{ id: string; flowId: string }>;
    for (const run of listed) {
      expect(isValidId(run.id), run.id).toBe(true);
      expect(isValidId(run.flowId), run.flowId).toBe(true);
    }
  });

  it('WebSocket frames of any shape get answers, never a crash, and the connection stays usable', async () => {
    const probe = await WsProbe.connect(stack.wsUrl);
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.string(),
            fc.jsonValue().map((v) => JSON.stringify(v)),
            fc.record({ op: fc.constantFrom('subscribe', 'unsubscribe', 'auth'), runId: fc.oneof(fc.string(), fc.integer()), runIds: fc.array(fc.string()), flowId: fc.string(), since: fc.oneof(fc.integer(), fc.string()) }, { requiredKeys: ['op'] }).map((v) => JSON.stringify(v)),
          ),
          async (frame) => {
            probe.send(frame);
            await new Promise((resolve) => setImmediate(resolve));
          },
        ),
        { numRuns: 300 },
      );
      const before = probe.messages.length;
      probe.send({ op: 'subscribe', flowId: 'still-alive' });
      await probe.waitFor((m) => m.type === 'subscribed' && m.flowId === 'still-alive', 5000, before);
      expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);
    } finally {
      await probe.close();
    }
  });

  it('paths with any percent-encoding, valid or not, get answers below 500', async () => {
    const escape = fc.oneof(fc.constantFrom('%', '%%', '%e0%a4%a', '%zz', '%2e', '%2e%2e', '%2f', '%00', '%ff', '%C0%AF', '%u2215'), fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), maxLength: 3 }).map((hex) => `%${hex}`));
    const segment = fc.array(fc.oneof(escape, fc.stringMatching(/^[A-Za-z0-9_.:-]{0,8}$/)), { maxLength: 4 }).map((parts) => parts.join(''));
    const route = fc.constantFrom('/api/v1/runs/', '/api/v1/flows/', '/api/v1/runs/x/', '/api/v1/', '/');
    await fc.assert(
      fc.asyncProperty(route, segment, fc.constantFrom('GET', 'POST'), async (prefix, tail, method) => {
        const suffix = prefix === '/api/v1/flows/' ? `${tail}/run` : prefix === '/api/v1/runs/x/' ? 'cancel' : tail;
        const response = await fetch(`${stack.url}${prefix}${suffix}`, { method, ...(method === 'POST' ? { headers: { 'content-type': 'application/json' }, body: '{"input":{}}' } : {}) });
        await response.text();
        expect(response.status, `${method} ${prefix}${suffix}`).toBeLessThan(500);
      }),
      { numRuns: 200 },
    );
  });
});
