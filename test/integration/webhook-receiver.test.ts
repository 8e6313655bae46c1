import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { signBody } from '../../src/webhooks/signature-verifier.js';
import { getJson, metricValue, postJson, useStack, WsProbe } from '../support/gateway-harness.js';

/** The receiver as Doclo (or an attacker) sees it: real HTTP against a running gateway. */
describe('webhook receiver', () => {
  const t = useStack();

  const event = (id: string, status = 'success', extra: Record<string, unknown> = {}) =>
    JSON.stringify({ event: 'execution.completed', timestamp: new Date().toISOString(), data: { id, flowId: 'hooks', status, output: { ok: true }, ...extra } });

  function post(body: string | Buffer, headers: Record<string, string> = {}) {
    return postJson(`${t.stack.url}/webhooks/doclo`, body.toString(), headers);
  }

  function signed(body: string, secret = t.stack.sim.webhookSecret) {
    return post(body, { 'x-doclo-signature': signBody(secret, body) });
  }

  it('accepts a signed event for an unknown run, creates it, and answers a duplicate with 200', async () => {
    const stack = await t.start({ args: ['--webhook-secret', 'other-secret,second-secret'] });
    const body = event('exec_fromhook');
    const first = await signed(body, 'second-secret');
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ received: true, duplicate: false });
    const again = await signed(body, 'second-secret');
    expect(again.status).toBe(200);
    expect(again.body.duplicate).toBe(true);
    const run = await getJson(`${stack.url}/api/v1/runs/exec_fromhook`);
    expect(run.body).toMatchObject({ id: 'exec_fromhook', flowId: 'hooks', status: 'success', seq: 1, source: 'webhook', output: { ok: true } });
  });

  it('takes the state from data.status in either event family and vocabulary', async () => {
    const stack = await t.start();
    for (const [id, eventName, status, expected] of [
      ['exec_a', 'run.completed', 'completed', 'success'],
      ['exec_b', 'execution.failed', 'failed', 'failed'],
      ['exec_c', 'run.cancelled', 'cancelled', 'cancelled'],
      ['exec_d', 'run.started', 'running', 'running'],
    ] as const) {
      const body = JSON.stringify({ event: eventName, timestamp: new Date().toISOString(), data: { id, flowId: 'f', status } });
      expect((await signed(body)).status).toBe(200);
      expect((await getJson(`${stack.url}/api/v1/runs/${id}`)).body.status).toBe(expected);
    }
  });

  it('refuses missing, malformed and wrong signatures with 401 and changes nothing', async () => {
    const stack = await t.start();
    const body = event('exec_forged');
    const cases: Array<[Record<string, string>, string]> = [
      [{}, 'missing'],
      [{ 'x-doclo-signature': 'sha256=zz' }, 'malformed'],
      [{ 'x-doclo-signature': signBody(stack.sim.webhookSecret, body).toUpperCase() }, 'malformed'],
      [{ 'x-doclo-signature': signBody('wrong-secret', body) }, 'mismatch'],
      [{ 'x-doclo-signature': signBody(stack.sim.webhookSecret, `${body} `) }, 'mismatch'],
    ];
    for (const [headers, reason] of cases) {
      const answer = await post(body, headers);
      expect(answer.status).toBe(401);
      expect(answer.body.error).toMatchObject({ code: 'RUNGATE_ERR_WEBHOOK_SIGNATURE', details: { reason } });
    }
    expect((await getJson(`${stack.url}/api/v1/runs/exec_forged`)).status).toBe(404);
  });

  it('answers 400 to signed bodies that are not Doclo events, and changes nothing', async () => {
    const stack = await t.start();
    const deep = JSON.parse(event('exec_deep'));
    let node = deep.data;
    for (let i = 0; i < 100; i++) node = node.nested = {};
    for (const body of [
      '{not json',
      '[]',
      JSON.stringify({ event: 'execution.completed', data: { id: 'exec_x', flowId: 'f', status: 'exploded' } }),
      JSON.stringify({ event: 'something.else', data: { id: 'exec_x', flowId: 'f', status: 'success' } }),
      JSON.stringify({ event: 'execution.completed', data: { flowId: 'f', status: 'success' } }),
      JSON.stringify({ event: 'execution.completed', timestamp: 'yesterday', data: { id: 'exec_x', flowId: 'f', status: 'success' } }),
      JSON.stringify(deep),
    ]) {
      const answer = await signed(body);
      expect(answer.status, body.slice(0, 80)).toBe(400);
      expect(answer.body.error.code).toBe('RUNGATE_ERR_WEBHOOK_PAYLOAD');
    }
    expect((await getJson(`${stack.url}/api/v1/runs/exec_x`)).status).toBe(404);
  });

  it('answers 413 over the body limit after reading the body, never by resetting the connection', async () => {
    const stack = await t.start({ args: ['--webhook-body-limit', '4kb'] });
    const big = event('exec_big', 'success', { output: { blob: 'x'.repeat(2 * 1024 * 1024) } });
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${t.stack.url}/webhooks/doclo`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-doclo-signature': signBody(t.stack.sim.webhookSecret, big) } }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      // Sent in pieces, as a slow sender would.
      const chunk = 64 * 1024;
      let offset = 0;
      const next = (): void => {
        if (offset >= big.length) req.end();
        else req.write(big.slice(offset, (offset += chunk)), next);
      };
      next();
    });
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body).error.code).toBe('PAYLOAD_TOO_LARGE');
    expect((await getJson(`${stack.url}/api/v1/runs/exec_big`)).status).toBe(404);
    const small = event('exec_small');
    expect((await signed(small)).status).toBe(200);
  });

  it('a replayed final state changes nothing and pushes nothing; a late running state cannot regress it', async () => {
    const stack = await t.start();
    const probe = await WsProbe.connect(stack.wsUrl);
    probe.send({ op: 'subscribe', flowId: 'hooks' });
    await probe.waitFor((m) => m.type === 'subscribed');
    const final = event('exec_replay', 'success');
    await signed(event('exec_replay', 'running', { progress: { step: 'extract', percentage: 50 } }));
    await signed(final);
    await signed(final);
    await signed(event('exec_replay', 'running', { progress: { step: 'extract', percentage: 80 } }));
    await signed(event('exec_replay', 'failed'));
    await probe.waitFor((m) => m.run?.status === 'success');
    // Every webhook above was answered, so each frame it caused is written: a round trip on the
    // socket waits for those frames to arrive.
    await probe.roundTrip();
    expect(probe.runs('exec_replay').map((r) => [r.status, r.seq])).toEqual([['running', 1], ['success', 2]]);
    expect((await getJson(`${stack.url}/api/v1/runs/exec_replay`)).body.status).toBe('success');
    const metrics = await (await fetch(`${stack.url}/metrics`)).text();
    expect(metricValue(metrics, 'rungate_webhooks_total', { result: 'duplicate' })).toBe(3);
    await probe.close();
  });

  it('rejects events older than the configured tolerance', async () => {
    await t.start({ args: ['--webhook-tolerance-s', '60'] });
    const old = JSON.stringify({ event: 'execution.completed', timestamp: new Date(Date.now() - 120_000).toISOString(), data: { id: 'exec_old', flowId: 'f', status: 'success' } });
    const answer = await signed(old);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('RUNGATE_ERR_WEBHOOK_STALE');
    expect((await signed(event('exec_new'))).status).toBe(200);
  });
});
