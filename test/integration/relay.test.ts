import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, getJson, postJson, startBody, useStack } from '../support/gateway-harness.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';
import { observe } from '../support/observations.js';
import { createClient } from '../../packages/client/src/index.js';

const RELAY_SECRET = 'relay-secret-for-receivers-0123456789';
/** Fast runs, fast fallback polls and fast retries: the same paths as the defaults, in less time. */
const FAST = ['--relay-allow-private', '--relay-secret', RELAY_SECRET, '--relay-retry-ms', '200', '--relay-scan-ms', '100', '--poll-grace-ms', '300', '--poll-min-grace-ms', '100', '--poll-interval-ms', '200'];

describe('relay: the final state delivered to the caller\'s own webhookUrl', () => {
  const fixture = useStack();
  const receivers: WebhookReceiver[] = [];
  afterEach(async () => {
    await Promise.all(receivers.splice(0).map((r) => r.close()));
  });
  const receiver = async () => {
    const started = await WebhookReceiver.start(RELAY_SECRET);
    receivers.push(started);
    return started;
  };
  const start = async (webhookUrl: string) => {
    const answer = await postJson(`${fixture.stack.url}/api/v1/flows/flow-relay/run`, startBody({ webhookUrl }));
    expect(answer.status).toBe(200);
    return answer.body.id as string;
  };
  const deliveries = async (id: string) => (await getJson(`${fixture.stack.url}/api/v1/runs/${id}/deliveries`)).body.data as Array<Record<string, unknown>>;

  it('delivers Doclo\'s body, signed as Doclo signs, once; Doclo itself is given the gateway\'s URL', async () => {
    const stack = await fixture.start({ sim: { runMs: 200, failRate: 0 }, args: FAST });
    const hooks = await receiver();
    const id = await start(hooks.url('/hooks/doclo?token=secret-query'));
    await eventually(() => hooks.forRun(id).length === 1);
    const [got] = hooks.forRun(id);
    expect(got!.verified).toBe(true);
    expect(got!.path).toBe('/hooks/doclo?token=secret-query');
    expect(got!.body).toMatchObject({ event: 'execution.completed', data: { id, status: 'success', flowId: 'flow-relay' } });
    // The simulator's webhook reached the gateway, which is how the state was learnt.
    expect(got!.body.data.source).toBe('webhook');
    expect(new Date(got!.body.timestamp).toISOString()).toBe(got!.body.timestamp);
    expect(got!.headers['content-type']).toBe('application/json');
    expect(got!.headers['webhook-id']).toMatch(/^msg_/);
    expect(Math.abs(Number(got!.headers['webhook-timestamp']) - Date.now() / 1000)).toBeLessThan(30);
    expect(stack.sim.stats().webhooks.sent).toBe(1);
    await eventually(async () => (await deliveries(id))[0]?.status === 'delivered');
    const [view] = await deliveries(id);
    expect(view).toMatchObject({ id: got!.headers['webhook-id'], url: hooks.url('/hooks/doclo'), event: 'execution.completed', status: 'delivered', attempts: 1, lastStatus: 200 });
    expect(view!.deliveredAt).toEqual(expect.any(String));
    // Nothing more comes.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(hooks.forRun(id)).toHaveLength(1);
    const metrics = await (await fetch(`${stack.url}/metrics`)).text();
    expect(metrics).toMatch(/rungate_relay_deliveries_total\{result="delivered"\} 1/);
    expect(metrics).toMatch(/rungate_relay_pending 0/);
  });

  it('delivers when every Doclo webhook is lost: the state comes from polling', async () => {
    const stack = await fixture.start({ sim: { runMs: 200, failRate: 0, webhookDropRate: 1 }, args: FAST });
    const hooks = await receiver();
    const id = await start(hooks.url());
    await eventually(() => hooks.forRun(id).length === 1, 15_000);
    const [got] = hooks.forRun(id);
    expect(got!.verified).toBe(true);
    expect(got!.body.data).toMatchObject({ id, status: 'success', source: 'poll' });
    expect(stack.sim.stats().webhooks.dropped).toBeGreaterThanOrEqual(1);
    observe('every Doclo webhook lost', { deliveredAfterRunEndMs: got!.at - Date.parse(String(got!.body.data.completedAt)) });
  });

  it('delivers a failed run as execution.failed and a cancel as execution.cancelled', async () => {
    await fixture.start({ sim: { runMs: 3000, failRate: 0 }, args: FAST });
    const hooks = await receiver();
    const id = await start(hooks.url());
    expect((await postJson(`${fixture.stack.url}/api/v1/runs/${id}/cancel`, {})).status).toBe(200);
    await eventually(() => hooks.forRun(id).length === 1);
    expect(hooks.forRun(id)[0]!.body).toMatchObject({ event: 'execution.cancelled', data: { id, status: 'cancelled' } });
  });

  it('retries a receiver answering 503 twice: three attempts with one webhook-id, the first retry within 5 s', async () => {
    await fixture.start({ sim: { runMs: 200, failRate: 0 }, args: FAST.filter((a, i, all) => a !== '--relay-retry-ms' && all[i - 1] !== '--relay-retry-ms') });
    const hooks = await receiver();
    hooks.answer({ status: 503 }, { status: 503 });
    const id = await start(hooks.url());
    await eventually(() => hooks.forRun(id).length === 3, 20_000);
    const attempts = hooks.forRun(id);
    expect(new Set(attempts.map((a) => a.headers['webhook-id'])).size).toBe(1);
    expect(new Set(attempts.map((a) => a.raw)).size).toBe(1);
    expect(attempts.every((a) => a.verified)).toBe(true);
    // Default backoff: about 1 s (0.5–1.5), then about 2 s (1–3).
    expect(attempts[1]!.at - attempts[0]!.at).toBeLessThan(5000);
    observe('503, 503, 200', { attempts: attempts.length, firstRetryAfterMs: attempts[1]!.at - attempts[0]!.at, secondRetryAfterMs: attempts[2]!.at - attempts[1]!.at });
    await eventually(async () => (await deliveries(id))[0]?.status === 'delivered');
    expect((await deliveries(id))[0]).toMatchObject({ attempts: 3, lastStatus: 200 });
    const metrics = await (await fetch(`${fixture.stack.url}/metrics`)).text();
    expect(metrics).toMatch(/rungate_relay_deliveries_total\{result="retried"\} 2/);
  });

  it('honours Retry-After', async () => {
    await fixture.start({ sim: { runMs: 100, failRate: 0 }, args: FAST });
    const hooks = await receiver();
    hooks.answer({ status: 429, headers: { 'retry-after': '2' } });
    const id = await start(hooks.url());
    await eventually(() => hooks.forRun(id).length === 2, 10_000);
    const [first, second] = hooks.forRun(id);
    // Without Retry-After the retry would come after 100–300 ms.
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(1900);
    observe('Retry-After: 2', { retryAfterMs: second!.at - first!.at });
  });

  it('times out a receiver that hangs, and tries again', async () => {
    await fixture.start({ sim: { runMs: 100, failRate: 0 }, args: [...FAST, '--relay-timeout-ms', '500'] });
    const hooks = await receiver();
    hooks.answer('hang');
    const id = await start(hooks.url());
    await eventually(async () => (await deliveries(id))[0]?.status === 'delivered', 10_000);
    const attempts = hooks.forRun(id);
    expect(attempts).toHaveLength(2);
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(450);
    observe('hanging receiver, 500 ms timeout', { attempts: attempts.length, secondAttemptAfterMs: attempts[1]!.at - attempts[0]!.at });
    expect((await deliveries(id))[0]).toMatchObject({ attempts: 2 });
  });

  it('fails at once on 410 Gone; retry queues it again (202)', async () => {
    await fixture.start({ sim: { runMs: 100, failRate: 0 }, args: FAST });
    const hooks = await receiver();
    hooks.answer({ status: 410 });
    const id = await start(hooks.url());
    await eventually(async () => (await deliveries(id))[0]?.status === 'failed');
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(hooks.forRun(id)).toHaveLength(1);
    expect((await deliveries(id))[0]).toMatchObject({ status: 'failed', attempts: 1, lastStatus: 410 });
    const client = createClient({ url: fixture.stack.url });
    try {
      const queued = await client.runs.retryDeliveries(id);
      expect(queued[0]).toMatchObject({ status: 'pending' });
      await eventually(async () => (await client.runs.deliveries(id))[0]?.status === 'delivered');
      expect(hooks.forRun(id)).toHaveLength(2);
      expect((await client.runs.deliveries(id))[0]).toMatchObject({ attempts: 2, lastStatus: 200 });
    } finally {
      client.close();
    }
  });

  it('keeps retrying a closed port, with the network error shown', async () => {
    await fixture.start({ sim: { runMs: 100, failRate: 0 }, args: FAST });
    const port = await closedPort();
    const id = await start(`http://127.0.0.1:${port}/hooks`);
    await eventually(async () => Number((await deliveries(id))[0]?.attempts ?? 0) >= 2, 10_000);
    const [view] = await deliveries(id);
    expect(view).toMatchObject({ status: 'pending', lastError: 'ECONNREFUSED' });
    expect(view!.nextAttemptAt).toEqual(expect.any(String));
    const metrics = await (await fetch(`${fixture.stack.url}/metrics`)).text();
    expect(metrics).toMatch(/rungate_relay_pending 1/);
  });

  it('shows no deliveries for a run started without a webhookUrl', async () => {
    await fixture.start({ sim: { runMs: 100, failRate: 0 }, args: FAST });
    const answer = await postJson(`${fixture.stack.url}/api/v1/flows/flow-relay/run`, startBody());
    await eventually(async () => (await getJson(`${fixture.stack.url}/api/v1/runs/${answer.body.id}`)).body.status === 'success');
    expect(await deliveries(answer.body.id as string)).toEqual([]);
    expect((await postJson(`${fixture.stack.url}/api/v1/runs/${answer.body.id}/deliveries/retry`, {})).status).toBe(202);
  });
});

describe('relay: refusals at start (contract section 8)', () => {
  const fixture = useStack();

  it.each([
    ['http://127.0.0.1:9/hooks'],
    ['http://10.1.2.3/hooks'],
    ['http://192.168.0.10/hooks'],
    ['http://172.20.0.1/hooks'],
    ['http://169.254.169.254/latest/meta-data'],
    ['http://0.0.0.0/'],
    ['http://[::1]:8080/'],
    ['http://[fe80::1]/'],
    ['http://[::ffff:127.0.0.1]/'],
    ['http://localhost:3000/'],
    ['ftp://hooks.example.com/'],
    ['file:///etc/passwd'],
    ['https://user:pass@hooks.example.com/'],
    ['not a url'],
    [42],
  ])('refuses %s with 400 INVALID_INPUT naming webhookUrl, starting nothing', async (webhookUrl) => {
    const stack = await fixture.start({ sim: { runMs: 100 } });
    const answer = await postJson(`${stack.url}/api/v1/flows/flow-relay/run`, startBody({ webhookUrl }));
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'INVALID_INPUT', details: { field: 'webhookUrl' } });
    expect(answer.body.error.message).toMatch(/^webhookUrl /);
    expect(stack.sim.stats().requests.run).toBe(0);
  });

  it('accepts a public https URL (its delivery is attempted later, not at start)', async () => {
    const stack = await fixture.start({ sim: { runMs: 60_000 } });
    const answer = await postJson(`${stack.url}/api/v1/flows/flow-relay/run`, startBody({ webhookUrl: 'https://hooks.example.com/doclo?x=1' }));
    expect(answer.status).toBe(200);
  });

  it('accepts loopback with --relay-allow-private', async () => {
    const stack = await fixture.start({ sim: { runMs: 60_000 }, args: ['--relay-allow-private'] });
    const answer = await postJson(`${stack.url}/api/v1/flows/flow-relay/run`, startBody({ webhookUrl: 'http://127.0.0.1:9/hooks' }));
    expect(answer.status).toBe(200);
  });
});

/** A port nothing listens on (bound, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
