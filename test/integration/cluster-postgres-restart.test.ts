import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator, signWebhookBody, type Simulator } from '../../src/simulator/index.js';
import { percentile } from '../support/gateway-harness.js';
import { PrivatePostgres, postgresServerInstalled } from '../support/private-postgres.js';
import { buildCli, documentBody, expectEachFinalOnce, freePort, http, RunWatcher, spawnGateway, waitFor, type CliBuild, type SpawnedGateway } from '../support/spawned-gateway.js';

/**
 * PostgreSQL crashed and restarted mid-stream: two instances on a PostgreSQL of the test's own
 * (the shared one on 5432 is everybody's), runs finishing by webhook and by polling while that
 * server is stopped with `pg_ctl -m immediate` (no checkpoint: it recovers from its WAL) and
 * started again on the same port and data directory.
 */
const installed = postgresServerInstalled();
const RUNS = 20;

describe.skipIf(!installed)('cluster mode: PostgreSQL restarted mid-stream', () => {
  let build: CliBuild | undefined;
  let server: PrivatePostgres | undefined;
  let sim: Simulator | undefined;
  const gateways: SpawnedGateway[] = [];
  const watchers: RunWatcher[] = [];

  beforeAll(() => {
    build = buildCli('postgres-restart');
  }, 120_000);

  afterEach(async () => {
    for (const watcher of watchers.splice(0)) await watcher.close();
    for (const gateway of gateways.splice(0)) await gateway.kill('SIGKILL');
    await sim?.close();
    sim = undefined;
    server?.destroy();
    server = undefined;
  });

  afterAll(() => build?.remove());

  it('loses and duplicates no final state, on either instance', async () => {
    server = new PrivatePostgres(await freePort());
    server.init();
    await server.start();
    // Runs of 1.1–3.3 s; a third of the webhooks never sent, so polling finishes those; a failed
    // delivery is retried after 1, 2 and 4 s, which spans the outage.
    sim = await createSimulator({ seed: 23, runMs: 2200, failRate: 0.25, webhookDropRate: 0.3, webhookBackoffMs: 1000 });
    const args = [
      '--port', '0',
      '--store', server.url('postgres'),
      '--upstream-url', `${sim.url}/api/v1`,
      '--api-key', 'dc_test_key',
      '--webhook-secret', sim.webhookSecret,
      '--poll-lease-ms', '3000',
      '--poll-grace-ms', '1500',
      '--poll-min-grace-ms', '500',
      '--poll-interval-ms', '500',
      '--poll-max-interval-ms', '2000',
      '--shutdown-timeout-ms', '1000',
    ];
    // One first, so the second does not race it to create the schema (that race has a test of its own).
    const a = await spawnGateway(build!.cli, args);
    gateways.push(a);
    const b = await spawnGateway(build!.cli, args);
    gateways.push(b);
    const cluster = [a, b];

    const subscribers = await Promise.all(cluster.map((gateway) => RunWatcher.connect(gateway.wsUrl)));
    watchers.push(...subscribers);
    for (const watcher of subscribers) watcher.send({ op: 'subscribe', flowId: '*' });
    await waitFor(() => subscribers.every((w) => w.other.some((m) => m.type === 'subscribed')), 5000, 'both flow subscriptions');

    const ids: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      const answer = await http(`${cluster[i % 2]!.url}/api/v1/flows/flow-restart-${i % 3}/run`, documentBody());
      expect(answer.status).toBe(200);
      ids.push(answer.body.id as string);
    }

    // Mid-stream: the first runs are ending, most are still running.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const finalsBefore = ids.filter((id) => subscribers[0]!.finals(id).length > 0).length;
    const downAtMs = Date.now();
    server.stop('immediate');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await server.start();
    const upAtMs = Date.now();

    await waitFor(
      () => subscribers.every((watcher) => ids.every((id) => watcher.finals(id).length >= 1)),
      25_000,
      'every final state on both instances',
    );
    // Long enough for a late duplicate (a retried webhook, a catch-up, a poll) to show up.
    await new Promise((resolve) => setTimeout(resolve, 1500));

    const simStatus = new Map<string, string>();
    let endedWhileDown = 0;
    // How long after its end each run that ended during the outage reached each subscriber.
    const late: number[] = [];
    for (const id of ids) {
      const answer = await http(`${sim.url}/api/v1/runs/${id}`);
      simStatus.set(id, answer.body.status as string);
      const endedAtMs = Date.parse(String(answer.body.completedAt ?? answer.body.cancelledAt));
      if (endedAtMs < downAtMs || endedAtMs > upAtMs) continue;
      endedWhileDown++;
      for (const watcher of subscribers) late.push(performance.timeOrigin + watcher.runs.find(({ run }) => run.id === id && run.status === answer.body.status)!.at - endedAtMs);
    }
    expectEachFinalOnce(subscribers, simStatus);
    for (const gateway of cluster) {
      for (const id of ids) {
        const answer = await http(`${gateway.url}/api/v1/runs/${id}`);
        expect(answer.status).toBe(200);
        expect(answer.body.status, `REST status of ${id}`).toBe(simStatus.get(id));
      }
    }

    const stats = sim.stats();
    const count = (gateway: SpawnedGateway, msg: string) => gateway.lines.filter((line) => line.msg === msg).length;
    const webhookErrors = cluster.map((gateway) => count(gateway, 'webhook failed'));
    const catchUps = cluster.map((gateway) => count(gateway, 'change log listener reconnected; catching up'));
    const resyncs = cluster.map((gateway) => count(gateway, 'resynchronised subscribers from the store'));
    const unhandled = cluster.flatMap((gateway) => gateway.lines.filter((line) => line.msg === 'unhandled rejection'));
    console.log(
      `PostgreSQL down ${((upAtMs - downAtMs) / 1000).toFixed(1)} s (crash: pg_ctl -m immediate) with ${finalsBefore}/${RUNS} runs final before, ${endedWhileDown} ending meanwhile; ` +
        `lost 0 (asserted); those ${endedWhileDown} reached subscribers p50 ${percentile(late, 50).toFixed(0)} ms, max ${Math.max(...late).toFixed(0)} ms after they ended; ` +
        `webhooks sent ${stats.webhooks.sent}, dropped ${stats.webhooks.dropped}, failed deliveries ${stats.webhooks.failed}; ` +
        `webhooks answered 5xx by A/B ${webhookErrors.join('/')}; upstream GETs ${stats.requests.get}; catch-ups A/B ${catchUps.join('/')}; resyncs A/B ${resyncs.join('/')}`,
    );
    expect(unhandled).toEqual([]);
    // The outage did fall mid-stream: runs ended before it, during it and after it.
    expect(endedWhileDown).toBeGreaterThanOrEqual(1);
    expect(finalsBefore).toBeLessThan(RUNS);
    // Both instances lost their LISTEN connection and read on from the change log afterwards.
    for (const n of catchUps) expect(n).toBeGreaterThanOrEqual(1);

    // The gateways stayed up through it all.
    for (const gateway of cluster) expect(gateway.child.exitCode).toBeNull();

    // And they shut down cleanly even with PostgreSQL gone again; a webhook meanwhile is not 200.
    server.stop('immediate');
    const body = JSON.stringify({ event: 'execution.completed', timestamp: new Date().toISOString(), data: { id: ids[0], flowId: 'flow-restart-0', status: 'completed', output: {} } });
    const held = fetch(`${a.url}/webhooks/doclo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-doclo-signature': signWebhookBody(sim.webhookSecret, body) },
      body,
    }).then(
      (response) => response.status,
      () => 'connection closed',
    );
    const exits = cluster.map((gateway) => new Promise<number | null>((resolve) => gateway.child.once('exit', (code) => resolve(code))));
    const heldAnswer = await held;
    const stopAt = performance.now();
    for (const gateway of cluster) gateway.child.kill('SIGTERM');
    expect(await Promise.all(exits)).toEqual([0, 0]);
    const stopMs = performance.now() - stopAt;
    console.log(`shutdown with PostgreSQL down: ${stopMs.toFixed(0)} ms; the webhook meanwhile got: ${heldAnswer}`);
    expect(heldAnswer).not.toBe(200);
    expect(stopMs).toBeLessThan(6000);
  }, 90_000);
});
