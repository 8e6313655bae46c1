import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator } from '../../src/simulator/index.js';
import { buildCli, documentBody, http, RunWatcher, spawnGateway, waitFor, type CliBuild, type SpawnedGateway } from '../support/spawned-gateway.js';

const FINAL = ['success', 'failed', 'cancelled'];

describe('SQLite store: SIGKILL and restart', () => {
  let build: CliBuild | undefined;
  let dir = '';
  const gateways: SpawnedGateway[] = [];
  const watchers: RunWatcher[] = [];
  const sims: Simulator[] = [];

  beforeAll(() => {
    build = buildCli('crash');
    dir = mkdtempSync(join(tmpdir(), 'rungate-crash-'));
  }, 120_000);

  afterEach(async () => {
    for (const watcher of watchers.splice(0)) await watcher.close();
    for (const gateway of gateways.splice(0)) await gateway.kill();
    for (const sim of sims.splice(0)) await sim.close();
  });

  afterAll(() => {
    build?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('loses no accepted run: after a restart on the same file every run reaches its subscribers, and finished runs outlive the upstream', async () => {
    // Every webhook is lost, so only the restarted gateway's polling can finish the runs.
    const sim = await createSimulator({ runMs: 2500, webhookDropRate: 1, failRate: 0.2, seed: 7 });
    sims.push(sim);
    const path = join(dir, 'data', 'runs.db');
    const args = ['--port', '0', '--store', `sqlite:${path}`, '--upstream-url', `${sim.url}/api/v1`, '--api-key', 'dc_test_key', '--webhook-secret', sim.webhookSecret];
    // A long grace: the first instance must not learn any final state before it dies.
    const first = await spawnGateway(build!.cli, [...args, '--poll-grace-ms', '20000', '--poll-min-grace-ms', '20000']);
    gateways.push(first);

    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const started = await http(`${first.url}/api/v1/flows/flow-crash/run`, documentBody());
      expect(started.status).toBe(200);
      ids.push(started.body.id as string);
    }
    const early = await RunWatcher.connect(first.wsUrl);
    watchers.push(early);
    early.send({ op: 'subscribe', runIds: ids });
    await waitFor(() => ids.every((id) => early.runs.some(({ run }) => run.id === id)), 5000, 'snapshots before the crash');
    await first.kill('SIGKILL');
    expect(sim.stats().runs.terminal).toBe(0);

    const getsBefore = sim.stats().requests.get;
    const second = await spawnGateway(build!.cli, [...args, '--poll-interval-ms', '500']);
    gateways.push(second);
    const resumedLine = second.lines.findIndex((line) => line.msg === 'resumed polling of unfinished runs');
    expect(resumedLine).toBeGreaterThanOrEqual(0);
    expect(second.lines[resumedLine]?.runs).toBe(ids.length);
    await waitFor(() => sim.stats().requests.get > getsBefore, 10_000, 'the first poll after the restart');
    const firstPollMs = performance.now() - second.spawnedAt;
    console.log(
      `restart → resumed polling: log line after ${Math.round(second.lineTimes[resumedLine]! - second.spawnedAt)} ms, first upstream GET after ${Math.round(firstPollMs)} ms (from spawn)`,
    );

    const watcher = await RunWatcher.connect(second.wsUrl);
    watchers.push(watcher);
    watcher.send({ op: 'subscribe', runIds: ids });
    await waitFor(() => ids.every((id) => watcher.finals(id).length === 1), 20_000, 'every run to reach a final state');
    for (const id of ids) {
      const answer = await http(`${second.url}/api/v1/runs/${id}`);
      expect(answer.status).toBe(200);
      expect(FINAL).toContain(answer.body.status);
      expect(answer.body.source).toBe('poll');
    }
    const finals = new Map(ids.map((id) => [id, watcher.finals(id)[0]!]));

    // Upstream gone: the finished runs are served from the file by a fresh process.
    await sim.close();
    sims.length = 0;
    await second.kill('SIGTERM');
    expect(second.child.exitCode).toBe(0);
    const third = await spawnGateway(build!.cli, args);
    gateways.push(third);
    for (const id of ids) {
      const answer = await http(`${third.url}/api/v1/runs/${id}`);
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual(finals.get(id));
    }
    const listed = await http(`${third.url}/api/v1/runs?flowId=flow-crash`);
    expect((listed.body.data as Array<{ id: string }>).map((run) => run.id)).toEqual([...ids].reverse());
    const late = await RunWatcher.connect(third.wsUrl);
    watchers.push(late);
    late.send({ op: 'subscribe', runIds: ids });
    await waitFor(() => ids.every((id) => late.finals(id).length === 1), 5000, 'final snapshots from the store');
  }, 60_000);
});
