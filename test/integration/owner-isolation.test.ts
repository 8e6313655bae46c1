import type { ServerResponse } from 'node:http';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { loadServeConfig } from '../../src/config/serve-config.js';
import { startGateway } from '../../src/gateway.js';
import { getJson, postJson, startBody, useStack } from '../support/gateway-harness.js';
import { startRecordingUpstream } from '../support/recording-upstream.js';
import { testLogger } from '../support/test-logs.js';

const SECRET = 'owner-isolation-secret-at-least-32-chars';

async function token(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

/** The lines of a Prometheus text whose metric name starts with `prefix`, as name{labels} → value. */
function metricLines(text: string, prefix: string): Map<string, number> {
  const lines = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const space = line.lastIndexOf(' ');
    lines.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return lines;
}

/** How each line moved from `before` to `after`. */
function moved(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [name, value] of after) delta[name] = value - (before.get(name) ?? 0);
  return delta;
}

/** Findings 4, 9 and 10 of issue 12: nothing of another owner's runs reaches a caller through starts, cancels or metrics. */
describe('owner isolation', () => {
  const fixture = useStack();

  async function start(args: string[] = []) {
    await fixture.start({ sim: { runMs: 60_000, failRate: 0 }, args: ['--jwt-secret', SECRET, ...args] });
    return { alice: await token({ sub: 'alice' }), bob: await token({ sub: 'bob' }), admin: await token({ sub: 'ops', admin: true }) };
  }

  it('scopes idempotency keys to the owner: the same key from another owner starts its own run and never names the first', async () => {
    const { alice, bob } = await start();
    const url = `${fixture.stack.url}/api/v1/flows/f/run`;
    const aliceRun = await postJson(url, startBody({ idempotencyKey: 'invoice-42', metadata: { who: 'alice' } }), bearer(alice));
    expect(aliceRun.status).toBe(200);

    // Another body under alice's key: once a 409 naming alice's run.
    const bobOther = await postJson(url, startBody({ idempotencyKey: 'invoice-42', metadata: { who: 'bob' } }), bearer(bob));
    expect(bobOther.status).toBe(200);
    expect(bobOther.body.id).not.toBe(aliceRun.body.id);
    expect(JSON.stringify(bobOther.body)).not.toContain(aliceRun.body.id);

    // The same body under alice's key: once alice's run itself.
    const aliceSame = await postJson(url, startBody({ idempotencyKey: 'invoice-43' }), bearer(alice));
    const bobSame = await postJson(url, startBody({ idempotencyKey: 'invoice-43' }), bearer(bob));
    expect(bobSame.status).toBe(200);
    expect(bobSame.body.id).not.toBe(aliceSame.body.id);
    expect((await getJson(`${fixture.stack.url}/api/v1/runs/${bobSame.body.id}`, bearer(bob))).status).toBe(200);

    // Within one owner the key still de-duplicates, and a conflict names only the owner's own run.
    const aliceAgain = await postJson(url, startBody({ idempotencyKey: 'invoice-43' }), bearer(alice));
    expect(aliceAgain.body.id).toBe(aliceSame.body.id);
    const bobConflict = await postJson(url, startBody({ idempotencyKey: 'invoice-42', metadata: { who: 'bob', again: true } }), bearer(bob));
    expect(bobConflict.status).toBe(409);
    expect(JSON.stringify(bobConflict.body)).not.toContain(aliceRun.body.id);
    expect(bobConflict.body.error.details?.idempotencyKey).toBe('invoice-42');
    expect((await getJson(`${fixture.stack.url}/api/v1/runs`, bearer(bob))).body.data.map((r: { id: string }) => r.id).sort()).toEqual([bobOther.body.id, bobSame.body.id].sort());
  });

  it('never answers a start with a run of another owner, whatever upstream answers', async () => {
    // An upstream whose idempotency (or a bug) hands every start the same run.
    const upstream = await startRecordingUpstream((req, res: ServerResponse) => {
      req.resume();
      req.on('end', () => {
        const text = JSON.stringify({ id: 'exec_same', flowId: 'f', status: 'queued', metadata: { secret: 'of alice' } });
        res.writeHead(200, { 'content-type': 'application/json' }).end(text);
      });
    });
    const config = loadServeConfig(['--port', '0', '--store', 'memory', '--upstream-url', upstream.baseUrl, '--api-key', 'dc_test_key', '--webhook-secret', 's', '--jwt-secret', SECRET, '--log-level', 'silent'], {});
    const gateway = await startGateway({ ...config, simulate: false }, testLogger('gateway'));
    try {
      const alice = await token({ sub: 'alice' });
      const bob = await token({ sub: 'bob' });
      expect((await postJson(`${gateway.url}/api/v1/flows/f/run`, startBody(), bearer(alice))).status).toBe(200);
      const answer = await postJson(`${gateway.url}/api/v1/flows/f/run`, startBody(), bearer(bob));
      expect(answer.status).toBe(409);
      expect(answer.body.error.code).toBe('IDEMPOTENCY_KEY_CONFLICT');
      expect(JSON.stringify(answer.body)).not.toContain('exec_same');
      expect(JSON.stringify(answer.body)).not.toContain('of alice');
      expect((await getJson(`${gateway.url}/api/v1/runs`, bearer(bob))).body.data).toEqual([]);
      expect((await getJson(`${gateway.url}/api/v1/runs/exec_same`, bearer(alice))).status).toBe(200);
    } finally {
      await gateway.close();
      await upstream.close();
    }
  });

  it('lets a runs claim read another owner run but not cancel it; the owner and admins may', async () => {
    const { alice, admin } = await start();
    const first = await postJson(`${fixture.stack.url}/api/v1/flows/f/run`, startBody(), bearer(alice));
    const second = await postJson(`${fixture.stack.url}/api/v1/flows/f/run`, startBody(), bearer(alice));
    const reader = await token({ sub: 'bob', runs: [first.body.id, second.body.id] });
    expect((await getJson(`${fixture.stack.url}/api/v1/runs/${first.body.id}`, bearer(reader))).status).toBe(200);
    const refused = await postJson(`${fixture.stack.url}/api/v1/runs/${first.body.id}/cancel`, '', bearer(reader));
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('FORBIDDEN');
    expect(fixture.stack.sim.stats().requests.cancel).toBe(0);
    expect((await getJson(`${fixture.stack.url}/api/v1/runs/${first.body.id}`, bearer(reader))).body.status).toBe('queued');
    expect((await postJson(`${fixture.stack.url}/api/v1/runs/${first.body.id}/cancel`, '', bearer(alice))).status).toBe(200);
    expect((await postJson(`${fixture.stack.url}/api/v1/runs/${second.body.id}/cancel`, '', bearer(admin))).status).toBe(200);
  });

  it('moves no metric differently for a foreign run than for one that does not exist (REST, WebSocket, SSE)', async () => {
    const { alice, bob } = await start();
    const started = await postJson(`${fixture.stack.url}/api/v1/flows/f/run`, startBody(), bearer(alice));
    const foreign = started.body.id as string;
    const scrape = async () => metricLines(await (await fetch(`${fixture.stack.url}/metrics`)).text(), 'rungate_');
    // Lines that move with any request whatever it asks (none so far: the gateway counts no REST requests).
    const probes: Array<[string, (id: string) => Promise<void>]> = [
      ['REST', async (id) => {
        expect((await getJson(`${fixture.stack.url}/api/v1/runs/${id}`, bearer(bob))).status).toBe(403);
      }],
      ['cancel', async (id) => {
        expect((await postJson(`${fixture.stack.url}/api/v1/runs/${id}/cancel`, '', bearer(bob))).status).toBe(403);
      }],
      ['SSE', async (id) => {
        const response = await fetch(`${fixture.stack.url}/api/v1/runs/${id}/events`, { headers: { ...bearer(bob), accept: 'text/event-stream' } });
        await response.text();
        expect(response.status).toBe(403);
      }],
      ['WebSocket', async (id) => {
        const probe = await fixture.probe({ headers: bearer(bob) });
        probe.send({ op: 'subscribe', runId: id });
        await probe.waitFor((m) => m.type === 'error' && m.code === 'forbidden');
        await probe.close();
      }],
    ];
    for (const [name, probe] of probes) {
      const m0 = await scrape();
      await probe(foreign);
      const m1 = await scrape();
      await probe('exec_doesnotexist1');
      const m2 = await scrape();
      expect(moved(m0, m1), name).toEqual(moved(m1, m2));
    }
  });
});
