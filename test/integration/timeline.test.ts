import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import { AuthorizationError, createClient, type DocloError, type Run, type RungateClient } from '../../src/client/index.js';
import { eventually, getJson, startStack, type Stack } from '../support/gateway-harness.js';

const SECRET = 'timeline-test-secret-0123456789abcdefghij';
const DOCUMENT = { base64: Buffer.from('%PDF-1.4 timeline').toString('base64'), mimeType: 'application/pdf' };
/** Polling soon after a lost webhook, so a run's final state comes by poll within the test. */
const QUICK_POLLS = ['--poll-grace-ms', '1000', '--poll-min-grace-ms', '300', '--poll-interval-ms', '300'];

const token = (claims: Record<string, unknown>) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('10m').sign(new TextEncoder().encode(SECRET));

describe('run timeline (GET /api/v1/runs/:id/timeline, runs.timeline) and flow subscriptions', () => {
  let stack: Stack | undefined;
  const clients: RungateClient[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await stack?.close();
    stack = undefined;
  });
  const client = (options: { token?: string } = {}) => {
    const made = createClient({ url: stack!.url, ...options });
    clients.push(made);
    return made;
  };

  it('shows where each state came from and when: a lost webhook shows as a final state by poll', async () => {
    stack = await startStack({ sim: { runMs: 600, failRate: 0, webhookDropRate: 1, seed: 5 }, args: QUICK_POLLS });
    const rungate = client();
    const started = await rungate.flows.run('invoices', { input: { document: DOCUMENT } });
    const done = await rungate.runs.waitForCompletion(started.id, { timeout: 20_000 });
    expect(done.source).toBe('poll');

    const timeline = await rungate.runs.timeline(started.id);
    expect(timeline[0]).toMatchObject({ seq: started.seq, status: 'queued', source: 'request' });
    expect(timeline.at(-1)).toMatchObject({ seq: done.seq, status: 'success', source: 'poll' });
    expect(timeline.some((entry) => entry.source === 'webhook')).toBe(false);
    for (let i = 1; i < timeline.length; i++) {
      expect(timeline[i]!.seq).toBeGreaterThan(timeline[i - 1]!.seq);
      expect(Date.parse(timeline[i]!.at)).toBeGreaterThanOrEqual(Date.parse(timeline[i - 1]!.at));
    }
    // Accepted after the start, within the run's life.
    expect(Date.parse(timeline.at(-1)!.at) - Date.parse(timeline[0]!.at)).toBeGreaterThan(100);

    // Over plain REST, the contract's shape.
    const answer = await getJson(`${stack.url}/api/v1/runs/${started.id}/timeline`);
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ data: timeline });
    expect((await getJson(`${stack.url}/api/v1/runs/exec_unknown_here/timeline`)).status).toBe(404);
  });

  it('records a webhook as the source of the final state when it arrives', async () => {
    stack = await startStack({ sim: { runMs: 300, failRate: 0, seed: 6 } });
    const rungate = client();
    const started = await rungate.flows.run('invoices', { input: { document: DOCUMENT } });
    const done = await rungate.runs.waitForCompletion(started.id, { timeout: 20_000 });
    const timeline = await rungate.runs.timeline(started.id);
    expect(timeline.map((entry) => `${entry.status}/${entry.source}`)).toEqual(['queued/request', 'success/webhook']);
    expect(timeline.at(-1)!.seq).toBe(done.seq);
  });

  it('is read with the run\'s read rights: the owner and admins, not another owner', async () => {
    stack = await startStack({ sim: { runMs: 300, failRate: 0, seed: 7 }, args: ['--jwt-secret', SECRET] });
    const alice = client({ token: await token({ sub: 'alice' }) });
    const started = await alice.flows.run('invoices', { input: { document: DOCUMENT } });
    expect((await alice.runs.timeline(started.id))[0]?.status).toBe('queued');
    expect((await client({ token: await token({ sub: 'ops', admin: true }) }).runs.timeline(started.id)).length).toBeGreaterThan(0);
    await expect(client({ token: await token({ sub: 'bob' }) }).runs.timeline(started.id)).rejects.toBeInstanceOf(AuthorizationError);
    // Holders of a runs claim read it too.
    expect((await client({ token: await token({ sub: 'carol', runs: [started.id] }) }).runs.timeline(started.id)).length).toBeGreaterThan(0);
  });

  it('flows.subscribe hands each change of every run of the flow once, and says when it is live', async () => {
    stack = await startStack({ sim: { runMs: 400, failRate: 0, seed: 8 } });
    const rungate = client();
    const seen: Run[] = [];
    let live = 0;
    const stop = rungate.flows.subscribe('receipts', (run) => seen.push(run), { onLive: () => live++ });
    await eventually(() => live === 1);
    const ids = [(await rungate.flows.run('receipts', { input: { document: DOCUMENT } })).id, (await rungate.flows.run('receipts', { input: { document: DOCUMENT } })).id];
    const other = (await rungate.flows.run('invoices', { input: { document: DOCUMENT } })).id;
    await rungate.runs.waitForMany([...ids, other], { timeout: 20_000 });
    await eventually(() => ids.every((id) => seen.some((run) => run.id === id && run.status === 'success')));
    expect(seen.some((run) => run.id === other)).toBe(false);
    for (const id of ids) {
      const seqs = seen.filter((run) => run.id === id).map((run) => run.seq);
      expect(new Set(seqs).size).toBe(seqs.length);
      expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    }
    stop();
  });

  it('flows.subscribe to every flow is for admins when auth is on', async () => {
    stack = await startStack({ sim: { runMs: 300, seed: 9 }, args: ['--jwt-secret', SECRET] });
    const errors: DocloError[] = [];
    client({ token: await token({ sub: 'alice' }) }).flows.subscribe('*', () => undefined, { onError: (error) => errors.push(error) });
    await eventually(() => errors.length === 1);
    expect(errors[0]).toBeInstanceOf(AuthorizationError);
    let live = false;
    client({ token: await token({ sub: 'ops', admin: true }) }).flows.subscribe('*', () => undefined, { onLive: () => (live = true) });
    await eventually(() => live);
  });
});
