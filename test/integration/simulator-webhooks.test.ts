import { createHmac, timingSafeEqual } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createSimulator, DEV_WEBHOOK_SECRET, signWebhookBody, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';
import { call, runBody, startReceiver, waitUntil, type Delivery, type Receiver } from './simulator-helpers.js';

/** The check a receiver does: HMAC over the raw bytes, constant-time compare. */
function verifies(delivery: Delivery, secret: string): boolean {
  const header = delivery.headers['x-doclo-signature'];
  if (typeof header !== 'string') return false;
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(delivery.raw).digest('hex')}`);
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const parse = (delivery: Delivery): { event: string; timestamp: string; data: Record<string, unknown> } =>
  JSON.parse(delivery.raw.toString('utf8')) as { event: string; timestamp: string; data: Record<string, unknown> };

describe('simulator webhooks', () => {
  const sims: Simulator[] = [];
  const receivers: Receiver[] = [];
  const start = async (options: SimulatorOptions = {}): Promise<Simulator> => {
    const sim = await createSimulator({ runMs: 40, failRate: 0, webhookBackoffMs: 20, webhookTimeoutMs: 2000, ...options });
    sims.push(sim);
    return sim;
  };
  const receiver = async (status?: (n: number) => number): Promise<Receiver> => {
    const r = await startReceiver(status);
    receivers.push(r);
    return r;
  };
  afterEach(async () => {
    await Promise.all(sims.splice(0).map((sim) => sim.close()));
    await Promise.all(receivers.splice(0).map((r) => r.close()));
  });

  it('posts a signed execution.completed with the run as data, signed with the default secret', async () => {
    const sim = await start();
    const hook = await receiver();
    expect(sim.webhookSecret).toBe(DEV_WEBHOOK_SECRET);
    const run = await call(`${sim.url}/api/v1/flows/f/run`, { body: runBody({ webhookUrl: hook.url, metadata: { ref: 'r1' } }) });
    await waitUntil(() => hook.deliveries.length === 1);
    const delivery = hook.deliveries[0]!;
    expect(delivery.headers['content-type']).toBe('application/json');
    expect(delivery.headers['x-doclo-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(verifies(delivery, DEV_WEBHOOK_SECRET)).toBe(true);
    expect(verifies(delivery, 'some other secret')).toBe(false);
    expect(delivery.headers['x-doclo-signature']).toBe(signWebhookBody(DEV_WEBHOOK_SECRET, delivery.raw));
    const event = parse(delivery);
    expect(event.event).toBe('execution.completed');
    expect(Number.isNaN(Date.parse(event.timestamp))).toBe(false);
    expect(event.data).toMatchObject({ id: run.body.id, flowId: 'f', status: 'success', metadata: { ref: 'r1' }, output: expect.any(Object) });
    expect(event.data).not.toHaveProperty('webhookSecret');
    const current = await call(`${sim.url}/api/v1/runs/${run.body.id}`);
    expect(event.data).toEqual(current.body);
    expect(sim.stats().webhooks).toEqual({ sent: 1, dropped: 0, duplicated: 0, failed: 0 });
  });

  it('signs with the run webhookSecret, else the configured secret', async () => {
    const sim = await start({ webhookSecret: 'whsec_configured' });
    const hook = await receiver();
    await call(`${sim.url}/api/v1/flows/f/run`, { body: runBody({ webhookUrl: hook.url, webhookSecret: 'whsec_per_run', metadata: { n: 1 } }) });
    await call(`${sim.url}/api/v1/flows/f/run`, { body: runBody({ webhookUrl: hook.url, metadata: { n: 2 } }) });
    await waitUntil(() => hook.deliveries.length === 2);
    const byN = new Map(hook.deliveries.map((d) => [(parse(d).data.metadata as { n: number }).n, d]));
    expect(verifies(byN.get(1)!, 'whsec_per_run')).toBe(true);
    expect(verifies(byN.get(1)!, 'whsec_configured')).toBe(false);
    expect(verifies(byN.get(2)!, 'whsec_configured')).toBe(true);
  });

  it('sends execution.failed for failed runs, with completed/apiref vocabulary when asked', async () => {
    const failing = await start({ failRate: 1 });
    const hook = await receiver();
    await call(`${failing.url}/api/v1/flows/f/run`, { body: runBody({ webhookUrl: hook.url }) });
    await waitUntil(() => hook.deliveries.length === 1);
    expect(parse(hook.deliveries[0]!)).toMatchObject({ event: 'execution.failed', data: { status: 'failed', error: { code: 'EXTRACTION_FAILED' } } });

    const apiref = await start({ statusVocabulary: 'apiref' });
    await call(`${apiref.url}/api/v1/flows/f/run`, { body: runBody({ webhookUrl: hook.url }) });
    await waitUntil(() => hook.deliveries.length === 2);
    expect(parse(hook.deliveries[1]!)).toMatchObject({ event: 'execution.completed', data: { status: 'completed' } });
  });

  it('sends nothing for cancelled runs or runs without webhookUrl', async () => {
    const sim = await start({ runMs: 100 });
    const hook = await receiver();
    const run = await call(`${sim.url}/api/v1/flows/f/run`, { body: runBody({ webhookUrl: hook.url }) });
    await call(`${sim.url}/api/v1/runs/${run.body.id}/cancel`, { method: 'POST' });
    await call(`${sim.url}/api/v1/flows/f/run`, { body: runBody({ wait: true }) });
    // A quiet window, the point of the test: both runs have ended, and nothing is sent in 250 ms.
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(hook.deliveries).toHaveLength(0);
    expect(sim.stats().webhooks.sent).toBe(0);
  });

  it('retries a delivery answered 500 with backoff, resending the same bytes', async () => {
    const sim = await start({ webhookRetries: 3 });
    const hook = await receiver((n) => (n <= 2 ? 500 : 200));
    await call(`${sim.url}/api/v1/flows/f/run`, { body: runBody({ webhookUrl: hook.url }) });
    await waitUntil(() => hook.deliveries.length === 3);
    const [a, b, c] = hook.deliveries as [Delivery, Delivery, Delivery];
    expect(b.raw.equals(a.raw) && c.raw.equals(a.raw)).toBe(true);
    expect(b.headers['x-doclo-signature']).toBe(a.headers['x-doclo-signature']);
    // Backoff 20 ms then 40 ms.
    expect(b.at - a.at).toBeGreaterThanOrEqual(15);
    expect(c.at - b.at).toBeGreaterThanOrEqual(35);
    await waitUntil(() => sim.stats().webhooks.sent === 1);
    expect(sim.stats().webhooks).toEqual({ sent: 1, dropped: 0, duplicated: 0, failed: 0 });
  });

  it('counts a delivery failed after the last retry, and an unreachable receiver too', async () => {
    const sim = await start({ webhookRetries: 2 });
    const hook = await receiver(() => 503);
    await call(`${sim.url}/api/v1/flows/f/run`, { body: runBody({ webhookUrl: hook.url }) });
    await waitUntil(() => sim.stats().webhooks.failed === 1);
    expect(hook.deliveries).toHaveLength(3);

    const gone = await receiver();
    const goneUrl = gone.url;
    await gone.close();
    const other = await start({ webhookRetries: 1 });
    await call(`${other.url}/api/v1/flows/f/run`, { body: runBody({ webhookUrl: goneUrl }) });
    await waitUntil(() => other.stats().webhooks.failed === 1);
    expect(other.stats().webhooks.sent).toBe(0);
  });

  it('retries a delivery that is not answered within the timeout', async () => {
    const sim = await start({ webhookRetries: 1, webhookTimeoutMs: 100 });
    let n = 0;
    const { createServer } = await import('node:http');
    const server = createServer((req, res) => {
      n++;
      req.resume();
      if (n === 1) return; // never answer the first attempt
      res.writeHead(200).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      await call(`${sim.url}/api/v1/flows/f/run`, { body: runBody({ webhookUrl: `http://127.0.0.1:${port}/hook` }) });
      await waitUntil(() => sim.stats().webhooks.sent === 1);
      expect(n).toBe(2);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('drops webhooks at webhookDropRate 1 and counts them', async () => {
    const sim = await start({ webhookDropRate: 1 });
    const hook = await receiver();
    for (let i = 0; i < 3; i++) await call(`${sim.url}/api/v1/flows/f/run`, { body: runBody({ webhookUrl: hook.url, metadata: { i } }) });
    await waitUntil(() => sim.stats().webhooks.dropped === 3);
    // A quiet window, the point of the test: a dropped webhook does not arrive after all.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(hook.deliveries).toHaveLength(0);
    expect(sim.stats().webhooks).toEqual({ sent: 0, dropped: 3, duplicated: 0, failed: 0 });
  });

  it('duplicates webhooks at webhookDuplicateRate 1: two identical signed copies, sent counts 2', async () => {
    const sim = await start({ webhookDuplicateRate: 1 });
    const hook = await receiver();
    await call(`${sim.url}/api/v1/flows/f/run`, { body: runBody({ webhookUrl: hook.url }) });
    await waitUntil(() => hook.deliveries.length === 2 && sim.stats().webhooks.sent === 2);
    expect(hook.deliveries[0]!.raw.equals(hook.deliveries[1]!.raw)).toBe(true);
    expect(hook.deliveries.every((d) => verifies(d, DEV_WEBHOOK_SECRET))).toBe(true);
    expect(sim.stats().webhooks).toEqual({ sent: 2, dropped: 0, duplicated: 1, failed: 0 });
  });

  it('delays deliveries by a random 0..N ms, so they can arrive out of order', async () => {
    const sim = await start({ runMs: 10, webhookDelayMs: 400, seed: 3 });
    const hook = await receiver();
    const finishedOrder: string[] = [];
    for (let i = 0; i < 8; i++) {
      const done = await call(`${sim.url}/api/v1/flows/f/run`, { body: runBody({ webhookUrl: hook.url, wait: true }, `d${i}`) });
      finishedOrder.push(done.body.id);
    }
    await waitUntil(() => hook.deliveries.length === 8, 5000);
    const arrivalOrder = hook.deliveries.map((d) => parse(d).data.id as string);
    expect(new Set(arrivalOrder)).toEqual(new Set(finishedOrder));
    expect(arrivalOrder).not.toEqual(finishedOrder);
  });

  it('stops pending deliveries and retries at close without counting them', async () => {
    const sim = await createSimulator({ runMs: 10, failRate: 0, webhookDelayMs: 5000, seed: 1 });
    const hook = await receiver();
    await call(`${sim.url}/api/v1/flows/f/run`, { body: runBody({ webhookUrl: hook.url, wait: true }) });
    await sim.close();
    // A quiet window, the point of the test: nothing is delivered after close.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(hook.deliveries).toHaveLength(0);
    expect(sim.stats().webhooks).toEqual({ sent: 0, dropped: 0, duplicated: 0, failed: 0 });
  });
});
