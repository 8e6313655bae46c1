import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signBody } from '../../src/webhooks/signature-verifier.js';
import { getJson, startStack, WsProbe, type Stack } from '../support/gateway-harness.js';

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
