import { SignJWT } from 'jose';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, getJson, metricValue, postJson, startBody, useStack } from '../support/gateway-harness.js';
import { SseClient } from '../support/sse-client.js';

const FINAL = new Set(['success', 'failed', 'cancelled']);
const JWT_SECRET = 'sse-test-secret-that-is-32-characters-long';

async function token(sub: string, admin = false): Promise<string> {
  return new SignJWT({ admin }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('10m').sign(new TextEncoder().encode(JWT_SECRET));
}

describe('Server-Sent Events (contract section 9)', () => {
  const t = useStack();
  const clients: SseClient[] = [];
  const open = async (url: string, headers: Record<string, string> = {}) => {
    const client = await SseClient.open(url, headers);
    clients.push(client);
    return client;
  };
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });

  async function start(flowId = 'sse-flow', headers: Record<string, string> = {}): Promise<string> {
    const answer = await postJson(`${t.stack.url}/api/v1/flows/${flowId}/run`, startBody(), headers);
    expect(answer.status).toBe(200);
    return answer.body.id as string;
  }

  it('a run stream: the latest state first, every change as event: run / id: seq / one-line data, ended after the final state', async () => {
    const stack = await t.start({ sim: { runMs: 400, failRate: 0 } });
    const id = await start();
    const stream = await open(`${stack.url}/api/v1/runs/${id}/events`);
    expect(stream.response.status).toBe(200);
    expect(stream.response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(stream.response.headers.get('cache-control')).toMatch(/no-cache/);
    expect(stream.response.headers.get('x-accel-buffering')).toBe('no');
    await stream.waitEnded();
    const runs = stream.runs();
    expect(runs[0]).toMatchObject({ id, status: 'queued', seq: 1 });
    expect(FINAL.has(runs.at(-1)!.status as string)).toBe(true);
    expect(runs.filter((run) => FINAL.has(run.status as string))).toHaveLength(1);
    const seqs = runs.map((run) => run.seq as number);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    for (const event of stream.events.filter((e) => e.event === 'run')) {
      expect(event.id).toBe(String((JSON.parse(event.data!) as { seq: number }).seq));
      expect(event.data).not.toContain('\n');
    }
    expect(stack.sim.stats().requests.get).toBe(0);
  });

  it('resumes with Last-Event-ID or ?since=N: nothing twice, and 204 once the consumer has the final state', async () => {
    const stack = await t.start({ sim: { runMs: 200, failRate: 0 } });
    const id = await start();
    const done = await getJson(`${stack.url}/api/v1/runs/${id}`, { prefer: 'wait=10' });
    const finalSeq = done.body.seq as number;
    const caughtUp = await fetch(`${stack.url}/api/v1/runs/${id}/events`, { headers: { 'last-event-id': String(finalSeq) } });
    expect(caughtUp.status).toBe(204);
    const behind = await open(`${stack.url}/api/v1/runs/${id}/events?since=1`);
    await behind.waitEnded();
    expect(behind.runs().map((run) => run.seq)).toEqual([finalSeq]);
    const unfinished = await start();
    const live = await open(`${stack.url}/api/v1/runs/${unfinished}/events`, { 'last-event-id': '1' });
    await live.waitEnded();
    expect(live.runs().every((run) => (run.seq as number) > 1)).toBe(true);
    expect(FINAL.has(live.runs().at(-1)!.status as string)).toBe(true);
  });

  it('a flow stream carries that flow\'s runs from then on, kept alive by comment lines', async () => {
    const stack = await t.start({ sim: { runMs: 200, failRate: 0 }, args: ['--sse-keepalive-ms', '100'] });
    const stream = await open(`${stack.url}/api/v1/events?flowId=watched`);
    expect(stream.response.status).toBe(200);
    const mine = await start('watched');
    await start('other');
    await stream.waitFor((e) => e.event === 'run' && FINAL.has((JSON.parse(e.data!) as { status: string }).status));
    expect(new Set(stream.runs().map((run) => run.id))).toEqual(new Set([mine]));
    await stream.waitFor((e) => e.comment === 'keep-alive');
    expect(stream.ended).toBe(false);
    const text = await (await fetch(`${stack.url}/metrics`)).text();
    expect(metricValue(text, 'rungate_sse_streams')).toBe(1);
    await stream.close();
    await eventually(async () => metricValue(await (await fetch(`${stack.url}/metrics`)).text(), 'rungate_sse_streams') === 0, 5000);
  });

  it('refuses bad input with a clear 4xx before any event', async () => {
    const stack = await t.start();
    const cases: Array<[string, number, string]> = [
      ['/api/v1/runs/exec_nope/events', 404, 'EXECUTION_NOT_FOUND'],
      ['/api/v1/runs/bad%20id/events', 404, 'EXECUTION_NOT_FOUND'],
      ['/api/v1/runs/exec_1/events?since=abc', 400, 'INVALID_INPUT'],
      ['/api/v1/events', 400, 'INVALID_INPUT'],
      ['/api/v1/events?flowId=a&flowId=b', 400, 'INVALID_INPUT'],
      ['/api/v1/events?flowId=bad%20flow', 404, 'FLOW_NOT_FOUND'],
    ];
    for (const [path, status, code] of cases) {
      const answer = await getJson(`${stack.url}${path}`);
      expect(answer.status, path).toBe(status);
      expect(answer.body.error.code, path).toBe(code);
    }
  });

  it('refuses pages of other origins; same-origin pages and clients without Origin are served', async () => {
    const stack = await t.start();
    const foreign = await getJson(`${stack.url}/api/v1/events?flowId=f`, { origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    const own = await open(`${stack.url}/api/v1/events?flowId=f`, { origin: stack.url });
    expect(own.response.status).toBe(200);
  });

  it('with auth on: a token in the header or ?access_token=, which never reaches the logs; * for admins only', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
    const stack = await t.start({ sim: { runMs: 300, failRate: 0 }, args: ['--jwt-secret', JWT_SECRET], logger });
    const alice = await token('alice');
    const bob = await token('bob');
    const id = await start('owned', { authorization: `Bearer ${alice}` });
    expect((await getJson(`${stack.url}/api/v1/runs/${id}/events`)).status).toBe(401);
    expect((await getJson(`${stack.url}/api/v1/runs/${id}/events?access_token=nonsense`)).status).toBe(401);
    expect((await getJson(`${stack.url}/api/v1/runs/${id}/events?access_token=${bob}`)).status).toBe(403);
    expect((await getJson(`${stack.url}/api/v1/events?flowId=*`, { authorization: `Bearer ${alice}` })).status).toBe(403);
    const viaQuery = await open(`${stack.url}/api/v1/runs/${id}/events?access_token=${alice}`);
    expect(viaQuery.response.status).toBe(200);
    await viaQuery.waitEnded();
    expect(viaQuery.runs().at(-1)!.status).toBe('success');
    const admin = await open(`${stack.url}/api/v1/events?flowId=*`, { authorization: `Bearer ${await token('root', true)}` });
    expect(admin.response.status).toBe(200);
    await admin.close();
    await stack.close();
    const log = lines.join('\n');
    expect(log).toContain('access_token=[redacted]');
    for (const secret of [alice, bob]) expect(log).not.toContain(secret);
  });
});
