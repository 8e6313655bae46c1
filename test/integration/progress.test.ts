import { describe, expect, it } from 'vitest';
import { getJson, postJson, startBody, useStack, type WsProbe } from '../support/gateway-harness.js';
import { SseClient } from '../support/sse-client.js';

const INTERVAL_MS = 200;
const FINAL = new Set(['success', 'failed', 'cancelled']);

/** The upstream GETs a run may cost: one per interval of its life, plus a little slack for ticks. */
const allowedGets = (durationMs: number) => Math.ceil(durationMs / INTERVAL_MS) + 2;

describe('progress for watched runs (contract section 4, --progress-poll-ms)', () => {
  const t = useStack();

  async function startRun(flowId = 'progress'): Promise<string> {
    const answer = await postJson(`${t.stack.url}/api/v1/flows/${flowId}/run`, startBody());
    expect(answer.status).toBe(200);
    return answer.body.id as string;
  }

  it('a watched run shows running and its progress, while its webhook still brings the final state; unwatched runs cost nothing', async () => {
    const stack = await t.start({ sim: { runMs: 1500, failRate: 0 }, args: ['--progress-poll-ms', String(INTERVAL_MS)] });
    const unwatched = await startRun();
    const watched = await startRun();
    const probe = await t.probe();
    probe.send({ op: 'subscribe', runId: watched });
    const done = await probe.waitFor((m) => m.type === 'run' && m.run?.id === watched && FINAL.has(m.run.status), 10_000);
    const states = probe.runs(watched);
    const running = states.filter((run) => run.status === 'running');
    expect(running.length).toBeGreaterThan(0);
    expect(running.every((run) => run.source === 'poll' && typeof run.progress?.percentage === 'number')).toBe(true);
    const percentages = running.map((run) => run.progress!.percentage);
    expect(percentages).toEqual([...percentages].sort((a, b) => a - b));
    expect(done.run!.source).toBe('webhook');
    // Every GET was for the watched run, within one per interval of its life.
    expect(stack.sim.stats().requests.get).toBeGreaterThan(0);
    expect(stack.sim.stats().requests.get).toBeLessThanOrEqual(allowedGets(done.run!.duration as number));
    const other = await getJson(`${stack.url}/api/v1/runs/${unwatched}`, { prefer: 'wait=10' });
    expect(other.body.status).toBe('success');
    expect(other.body.source).toBe('webhook');
    expect(other.body.progress).toBeUndefined();
  });

  it('ten watchers of the same runs (WebSocket and SSE) cost what one does: one poll per run per interval', async () => {
    const stack = await t.start({ sim: { runMs: 1500, failRate: 0 }, args: ['--progress-poll-ms', String(INTERVAL_MS)] });
    const ids = [await startRun(), await startRun(), await startRun()];
    const probes: WsProbe[] = [];
    for (let i = 0; i < 9; i++) {
      const probe = await t.probe();
      probe.send(i % 3 === 0 ? { op: 'subscribe', flowId: 'progress' } : { op: 'subscribe', runIds: ids });
      probes.push(probe);
    }
    const streams = await Promise.all(ids.map((id) => SseClient.open(`${stack.url}/api/v1/runs/${id}/events`)));
    try {
      await Promise.all(streams.map((stream) => stream.waitEnded(10_000)));
      const finals = streams.map((stream) => stream.runs().at(-1)!);
      expect(finals.every((run) => FINAL.has(run.status as string))).toBe(true);
      expect(streams.every((stream) => stream.runs().some((run) => run.status === 'running' && run.progress))).toBe(true);
      const budget = finals.reduce((sum, run) => sum + allowedGets(run.duration as number), 0);
      expect(stack.sim.stats().requests.get).toBeLessThanOrEqual(budget);
    } finally {
      await Promise.all(streams.map((stream) => stream.close()));
    }
  });

  it('is off by default: a watched run costs no GET while its webhook arrives', async () => {
    const stack = await t.start({ sim: { runMs: 400, failRate: 0 } });
    const id = await startRun();
    const probe = await t.probe();
    probe.send({ op: 'subscribe', runId: id });
    await probe.waitFor((m) => m.type === 'run' && m.run?.id === id && FINAL.has(m.run.status), 10_000);
    expect(stack.sim.stats().requests.get).toBe(0);
  });
});
