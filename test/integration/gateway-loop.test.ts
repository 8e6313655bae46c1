import { describe, expect, it } from 'vitest';
import { eventually, getJson, metricValue, postJson, startBody, useStack, WsProbe } from '../support/gateway-harness.js';

/**
 * The whole loop over loopback: the real simulator (with faults) upstream, the real gateway,
 * real WebSocket clients. Timings are scaled down (runs of ~300 ms) with the poll settings
 * scaled alike; the bounds at full scale are in gateway-bounds.test.ts.
 */
describe('gateway loop', () => {
  const t = useStack();

  async function startRuns(count: number, flowId = 'invoices'): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const answer = await postJson(`${t.stack.url}/api/v1/flows/${flowId}/run`, startBody());
      expect(answer.status).toBe(200);
      expect(answer.body.status).toBe('queued');
      expect(answer.body.source).toBe('request');
      expect(answer.body.seq).toBe(1);
      ids.push(answer.body.id);
    }
    return ids;
  }

  function finals(p: WsProbe, id: string) {
    return p.runs(id).filter((run) => ['success', 'failed', 'cancelled'].includes(run.status));
  }

  it('webhooks arriving: every subscriber sees each final state once, with no upstream GET', async () => {
    const stack = await t.start({ sim: { runMs: 300, failRate: 0.3 } });
    const all = await t.probe();
    all.send({ op: 'subscribe', flowId: '*' });
    await all.waitFor((m) => m.type === 'subscribed' && m.flowId === '*');
    const ids = await startRuns(20);
    const perRun = await t.probe();
    perRun.send({ op: 'subscribe', runIds: ids });
    for (const id of ids) await perRun.waitFor((m) => m.type === 'subscribed' && m.runId === id);

    await eventually(() => ids.every((id) => finals(all, id).length === 1 && finals(perRun, id).length === 1), 10_000);
    // A quiet window, the point of the check below: no second final state turns up in 300 ms.
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const id of ids) {
      expect(finals(all, id)).toHaveLength(1);
      expect(finals(perRun, id)).toHaveLength(1);
      expect(finals(all, id)[0]!.source).toBe('webhook');
      const seqs = all.runs(id).map((run) => run.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
    }
    // The subscribed message comes before any run message for that run.
    for (const id of ids) {
      const subscribedAt = perRun.messages.findIndex((m) => m.type === 'subscribed' && m.runId === id);
      const firstRun = perRun.messages.findIndex((m) => m.type === 'run' && m.run?.id === id);
      expect(subscribedAt).toBeLessThan(firstRun);
    }
    expect(stack.sim.stats().requests.get).toBe(0);
  });

  it('every webhook lost: polling recovers every final state, within a few GETs per run', async () => {
    const stack = await t.start({
      sim: { runMs: 300, webhookDropRate: 1 },
      args: ['--poll-grace-ms', '500', '--poll-min-grace-ms', '200', '--poll-interval-ms', '200'],
    });
    const all = await t.probe();
    all.send({ op: 'subscribe', flowId: '*' });
    await all.waitFor((m) => m.type === 'subscribed');
    const ids = await startRuns(20);
    await eventually(() => ids.every((id) => finals(all, id).length === 1), 10_000);
    for (const id of ids) expect(finals(all, id)[0]!.source).toBe('poll');
    const stats = stack.sim.stats();
    expect(stats.webhooks.dropped).toBe(20);
    expect(stats.requests.get / ids.length).toBeLessThanOrEqual(4);
    const metrics = await (await fetch(`${stack.url}/metrics`)).text();
    expect(metricValue(metrics, 'rungate_runs_recovered_by_poll_total')).toBe(20);
  });

  it('duplicated and delayed webhooks: final state exactly once, seq only grows', async () => {
    const stack = await t.start({ sim: { runMs: 200, webhookDuplicateRate: 1, webhookDelayMs: 150 } });
    const all = await t.probe();
    all.send({ op: 'subscribe', flowId: 'dupes' });
    await all.waitFor((m) => m.type === 'subscribed');
    const ids = await startRuns(10, 'dupes');
    await eventually(() => t.stack.sim.stats().webhooks.sent >= 20, 10_000);
    // Every copy has been answered, so every frame they caused is written: a round trip on the
    // socket waits for those frames to arrive.
    await all.roundTrip();
    for (const id of ids) {
      expect(finals(all, id)).toHaveLength(1);
      const seqs = all.runs(id).map((run) => run.seq);
      expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
    }
    const metrics = await (await fetch(`${stack.url}/metrics`)).text();
    expect(metricValue(metrics, 'rungate_webhooks_total', { result: 'duplicate' })).toBe(10);
  });

  it('many subscribers and readers of one unknown run cost one upstream lookup', async () => {
    const stack = await t.start({ sim: { runMs: 2000 } });
    // Started directly upstream, so the gateway has never heard of it.
    const started = await postJson(`${stack.sim.url}/api/v1/flows/direct/run`, startBody());
    const id = started.body.id as string;
    const subscribers = await Promise.all(Array.from({ length: 30 }, () => t.probe()));
    for (const s of subscribers) s.send({ op: 'subscribe', runId: id });
    const reads = await Promise.all(Array.from({ length: 30 }, () => getJson(`${t.stack.url}/api/v1/runs/${id}`)));
    for (const read of reads) expect(read.status).toBe(200);
    for (const s of subscribers) await s.waitFor((m) => m.type === 'run' && m.run?.id === id);
    expect(stack.sim.stats().requests.get).toBe(1);
  });

  it('unknown runs: 404 on REST, not_found on WebSocket, and no subscribed', async () => {
    const stack = await t.start();
    const answer = await getJson(`${stack.url}/api/v1/runs/exec_doesnotexist`);
    expect(answer.status).toBe(404);
    expect(answer.body).toEqual({ error: { code: 'EXECUTION_NOT_FOUND', message: expect.any(String) } });
    const p = await t.probe();
    p.send({ op: 'subscribe', runId: 'exec_doesnotexist' });
    const error = await p.waitFor((m) => m.type === 'error');
    expect(error).toMatchObject({ code: 'not_found', runId: 'exec_doesnotexist' });
    expect(p.messages.some((m) => m.type === 'subscribed')).toBe(false);
  });

  it('Prefer: wait holds a lookup until the run ends; wait: true holds the start', async () => {
    const stack = await t.start({ sim: { runMs: 400, failRate: 0 } });
    const [id] = await startRuns(1);
    const held = await getJson(`${stack.url}/api/v1/runs/${id}`, { prefer: 'wait=10' });
    expect(held.status).toBe(200);
    expect(held.body.status).toBe('success');
    expect(held.headers.get('preference-applied')).toBe('wait=10');

    const sync = await postJson(`${stack.url}/api/v1/flows/sync/run`, startBody({ wait: true, timeout: 10_000 }));
    expect(sync.status).toBe(200);
    expect(sync.body.status).toBe('success');
    expect(sync.body.output).toBeDefined();

    // Past its timeout a synchronous start is answered as Doclo does (contract v2): 504
    // EXECUTION_TIMEOUT naming the execution, which goes on.
    const short = await postJson(`${stack.url}/api/v1/flows/sync/run`, startBody({ wait: true, timeout: 50 }));
    expect(short.status).toBe(504);
    expect(short.body.error).toMatchObject({ code: 'EXECUTION_TIMEOUT', details: { executionId: expect.stringMatching(/^exec_/) } });
    const none = await getJson(`${stack.url}/api/v1/runs/${short.body.error.details.executionId}`, { prefer: 'wait=0' });
    expect(['queued', 'running']).toContain(none.body.status);
    expect(stack.sim.stats().requests.get).toBe(0);
  });

  it('since on resubscribe: a client that has the final state gets subscribed but no run', async () => {
    await t.start({ sim: { runMs: 100 } });
    const [id] = await startRuns(1);
    const first = await t.probe();
    first.send({ op: 'subscribe', runId: id });
    const final = await first.waitFor((m) => m.type === 'run' && ['success', 'failed'].includes(m.run!.status));
    const second = await t.probe();
    second.send({ op: 'subscribe', runId: id, since: final.run!.seq });
    await second.waitFor((m) => m.type === 'subscribed');
    const third = await t.probe();
    third.send({ op: 'subscribe', runId: id, since: final.run!.seq - 1 });
    const again = await third.waitFor((m) => m.type === 'run');
    expect(again.run!.seq).toBe(final.run!.seq);
    // Subscribing once more, even without since, sends nothing new: the final state goes out once.
    for (const p of [second, third]) {
      const before = p.messages.length;
      p.send({ op: 'subscribe', runId: id });
      await p.waitFor((m) => m.type === 'subscribed', 2000, before);
    }
    // A run frame would come right after its subscribed; a round trip shows that none did.
    await Promise.all([second.roundTrip(), third.roundTrip()]);
    expect(second.runs(id)).toHaveLength(0);
    expect(third.runs(id)).toHaveLength(1);
  });

  it('cancel: the cancelled state reaches subscribers; refused cancels learn the real final state', async () => {
    const stack = await t.start({ sim: { runMs: 1500, failRate: 0 } });
    const [id] = await startRuns(1);
    const p = await t.probe();
    p.send({ op: 'subscribe', runId: id });
    await p.waitFor((m) => m.type === 'run');
    const cancelled = await postJson(`${stack.url}/api/v1/runs/${id}/cancel`, '');
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    expect(cancelled.body.cancelledAt).toBeDefined();
    await p.waitFor((m) => m.type === 'run' && m.run!.status === 'cancelled');
    const again = await postJson(`${stack.url}/api/v1/runs/${id}/cancel`, '');
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('ALREADY_CANCELLED');

    // A run that finished upstream while the gateway still thinks it is running.
    const direct = await postJson(`${stack.sim.url}/api/v1/flows/direct/run`, startBody({ webhookUrl: 'http://127.0.0.1:9/nowhere' }));
    const directId = direct.body.id as string;
    expect((await getJson(`${stack.url}/api/v1/runs/${directId}`)).body.status).not.toBe('success');
    const p2 = await t.probe();
    p2.send({ op: 'subscribe', runId: directId });
    await p2.waitFor((m) => m.type === 'run');
    await eventually(async () => (await getJson(`${t.stack.sim.url}/api/v1/runs/${directId}`)).body.status === 'success', 5000);
    const refused = await postJson(`${stack.url}/api/v1/runs/${directId}/cancel`, '');
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('NOT_CANCELLABLE');
    const final = await p2.waitFor((m) => m.type === 'run' && m.run!.status === 'success');
    expect(final.run!.source).toBe('request');
    expect((await getJson(`${stack.url}/api/v1/runs/${directId}`)).body.status).toBe('success');
  });

  it('cancel racing completion ends in one consistent final state', async () => {
    const stack = await t.start({ sim: { runMs: 300, failRate: 0 } });
    const ids = await startRuns(8);
    const p = await t.probe();
    p.send({ op: 'subscribe', runIds: ids });
    // Half the cancels go at once and win; the other half go the moment upstream reports the run
    // ended, so the refusal races the run's own webhook to the gateway.
    const answers = await Promise.all(
      ids.map(async (id, i) => {
        if (i % 2 === 1) await eventually(async () => (await getJson(`${stack.sim.url}/api/v1/runs/${id}`)).body.status === 'success', 8000);
        return postJson(`${t.stack.url}/api/v1/runs/${id}/cancel`, '');
      }),
    );
    for (const answer of answers) expect([200, 409]).toContain(answer.status);
    await eventually(() => ids.every((id) => finals(p, id).length === 1), 8000);
    // A quiet window, the point of the check below: no second final state turns up in 400 ms.
    await new Promise((resolve) => setTimeout(resolve, 400));
    for (const id of ids) {
      const upstream = (await getJson(`${stack.sim.url}/api/v1/runs/${id}`)).body.status as string;
      expect(finals(p, id)).toHaveLength(1);
      expect(finals(p, id)[0]!.status).toBe(upstream);
      expect((await getJson(`${stack.url}/api/v1/runs/${id}`)).body.status).toBe(upstream);
    }
  });

  it('lists tracked runs newest first with filters and cursors', async () => {
    const stack = await t.start({ sim: { runMs: 5000 } });
    const a = await startRuns(3, 'flow-a');
    const b = await startRuns(2, 'flow-b');
    const page1 = await getJson(`${stack.url}/api/v1/runs?limit=2`);
    expect(page1.body.data.map((r: { id: string }) => r.id)).toEqual([b[1], b[0]]);
    const page2 = await getJson(`${stack.url}/api/v1/runs?limit=2&cursor=${page1.body.nextCursor}`);
    expect(page2.body.data.map((r: { id: string }) => r.id)).toEqual([a[2], a[1]]);
    const flowA = await getJson(`${stack.url}/api/v1/runs?flowId=flow-a`);
    expect(flowA.body.data.map((r: { id: string }) => r.id)).toEqual([...a].reverse());
    expect(flowA.body.nextCursor).toBeUndefined();
    const queued = await getJson(`${stack.url}/api/v1/runs?status=pending`);
    expect(queued.body.data).toHaveLength(5);
    const capped = await getJson(`${stack.url}/api/v1/runs?limit=100000`);
    expect(capped.status).toBe(200);
    expect(capped.body.data).toHaveLength(5);
    for (const bad of ['limit=0', 'limit=-1', 'limit=x', 'status=weird', 'cursor=%%%']) {
      const answer = await getJson(`${stack.url}/api/v1/runs?${bad}`);
      expect(answer.status, bad).toBe(400);
      expect(answer.body.error.code).toBe('INVALID_INPUT');
    }
  });

  it('passes Doclo validation errors through in its envelope and rejects bad bodies itself', async () => {
    const stack = await t.start();
    const bad = await postJson(`${stack.url}/api/v1/flows/f/run`, { input: { document: { base64: '***', mimeType: 'application/pdf' } } });
    expect(bad.status).toBe(422);
    expect(bad.body.error.code).toBe('VALIDATION_ERROR');
    expect(bad.body.error.details.field).toBe('input.document.base64');
    const notJson = await postJson(`${stack.url}/api/v1/flows/f/run`, '{nope');
    expect(notJson.status).toBe(400);
    expect(notJson.body.error.code).toBe('INVALID_INPUT');
    const noInput = await postJson(`${stack.url}/api/v1/flows/f/run`, { metadata: {} });
    expect(noInput.status).toBe(422);
    const badTimeout = await postJson(`${stack.url}/api/v1/flows/f/run`, startBody({ wait: true, timeout: -5 }));
    expect(badTimeout.status).toBe(422);
    expect(stack.sim.stats().requests.run).toBe(1);
  });
});
