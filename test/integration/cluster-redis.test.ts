import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator, signWebhookBody, type Simulator } from '../../src/simulator/index.js';
import { deletePrefix, killClientsNamed, redisAvailable, redisUrl, testRedis, uniquePrefix } from '../support/redis.js';
import { buildCli, documentBody, http, RunWatcher, spawnGateway, waitFor, type CliBuild, type SpawnedGateway } from '../support/spawned-gateway.js';
import { percentile } from '../support/gateway-harness.js';

const redisUp = await redisAvailable();
/** Not db 0, so the URL's database number is exercised. */
const DB = 2;

describe.skipIf(!redisUp)('cluster mode on Redis (spawned instances)', () => {
  let build: CliBuild | undefined;
  let prefix = '';
  const gateways: SpawnedGateway[] = [];
  const watchers: RunWatcher[] = [];
  const sims: Simulator[] = [];

  beforeAll(() => {
    build = buildCli('cluster');
  }, 120_000);

  afterEach(async () => {
    for (const watcher of watchers.splice(0)) await watcher.close();
    for (const gateway of gateways.splice(0)) await gateway.kill();
    for (const sim of sims.splice(0)) await sim.close();
    // Only this test's keys: an empty prefix would match everyone's.
    if (prefix === '') return;
    const admin = testRedis(DB);
    try {
      await deletePrefix(admin, prefix);
    } finally {
      await admin.quit();
      prefix = '';
    }
  });

  afterAll(() => build?.remove());

  async function startSim(options: Parameters<typeof createSimulator>[0]): Promise<Simulator> {
    const sim = await createSimulator({ seed: 11, ...options });
    sims.push(sim);
    return sim;
  }

  /** Starts `count` gateways on one Redis prefix in front of `sim`. */
  async function startCluster(sim: Simulator, count: number, extra: string[] = []): Promise<SpawnedGateway[]> {
    prefix = uniquePrefix('cluster');
    const args = [
      '--port', '0',
      '--store', redisUrl(DB),
      '--redis-prefix', prefix,
      '--upstream-url', `${sim.url}/api/v1`,
      '--api-key', 'dc_test_key',
      '--webhook-secret', sim.webhookSecret,
      ...extra,
    ];
    const started = await Promise.all(Array.from({ length: count }, () => spawnGateway(build!.cli, args)));
    gateways.push(...started);
    return started;
  }

  async function startRuns(via: SpawnedGateway[], count: number, flowId: string): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const answer = await http(`${via[i % via.length]!.url}/api/v1/flows/${flowId}/run`, documentBody());
      expect(answer.status).toBe(200);
      ids.push(answer.body.id as string);
    }
    return ids;
  }

  it('pushes a webhook posted to A to a WebSocket subscriber on B (and measures the latency)', async () => {
    // Runs that do not end by themselves during the test: the test posts their webhooks.
    const sim = await startSim({ runMs: 120_000 });
    const [a, b] = await startCluster(sim, 2);
    const ids = await startRuns([a!], 40, 'flow-latency');
    const watcher = await RunWatcher.connect(b!.wsUrl);
    watchers.push(watcher);
    watcher.send({ op: 'subscribe', runIds: ids });
    await waitFor(() => ids.every((id) => watcher.runs.some(({ run }) => run.id === id)), 10_000, 'snapshots on B');

    const latencies: number[] = [];
    for (const id of ids) {
      const body = JSON.stringify({
        event: 'execution.completed',
        timestamp: new Date().toISOString(),
        data: { id, flowId: 'flow-latency', status: 'completed', output: { total: 1 } },
      });
      const sentAt = performance.now();
      const response = await fetch(`${a!.url}/webhooks/doclo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-doclo-signature': signWebhookBody(sim.webhookSecret, body) },
        body,
      });
      expect(response.status).toBe(200);
      await waitFor(() => watcher.finals(id).length === 1, 5000, `the final state of ${id} on B`);
      latencies.push(watcher.finals(id).length === 1 ? watcher.runs.find(({ run }) => run.id === id && run.status === 'success')!.at - sentAt : NaN);
    }
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    console.log(`cross-instance push (webhook POST to A → frame on B), ${latencies.length} runs: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`);
    // Generous: two busy cores; the figure that matters is printed above.
    expect(p99).toBeLessThan(1000);
    for (const id of ids) expect(watcher.finals(id)).toHaveLength(1);
    expect(sim.stats().requests.get).toBe(0);
  });

  it.each([1, 2])('with every webhook lost, %i instance(s) poll each run at most 4 times on average', async (instances) => {
    const sim = await startSim({ runMs: 3000, webhookDropRate: 1 });
    const cluster = await startCluster(sim, instances);
    const watcher = await RunWatcher.connect(cluster[cluster.length - 1]!.wsUrl);
    watchers.push(watcher);
    watcher.send({ op: 'subscribe', flowId: 'flow-lost' });
    await waitFor(() => watcher.other.some((m) => m.type === 'subscribed'), 5000, 'the flow subscription');
    const runs = 20;
    const ids = await startRuns(cluster, runs, 'flow-lost');
    await waitFor(() => ids.every((id) => watcher.finals(id).length === 1), 25_000, 'every run to be finished by polling');
    const getsPerRun = sim.stats().requests.get / runs;
    console.log(`all webhooks lost, ${instances} instance(s): ${sim.stats().requests.get} upstream GETs for ${runs} runs = ${getsPerRun.toFixed(2)} per run`);
    expect(getsPerRun).toBeLessThanOrEqual(4);
    for (const id of ids) expect(watcher.finals(id)).toHaveLength(1);
  });

  it("finishes a killed instance's runs on the survivor", async () => {
    const sim = await startSim({ runMs: 4000, webhookDropRate: 1 });
    const [a, b] = await startCluster(sim, 2, ['--poll-lease-ms', '2000', '--poll-grace-ms', '1000', '--poll-min-grace-ms', '500', '--poll-interval-ms', '500']);
    const watcher = await RunWatcher.connect(b!.wsUrl);
    watchers.push(watcher);
    const ids = await startRuns([a!], 8, 'flow-takeover');
    watcher.send({ op: 'subscribe', runIds: ids });
    // Let polling start, so A dies holding a schedule (and likely leases) of unfinished runs.
    await waitFor(() => sim.stats().requests.get >= 4, 10_000, 'polling to start');
    expect(sim.stats().runs.terminal).toBeLessThan(ids.length);
    await a!.kill('SIGKILL');
    await waitFor(() => ids.every((id) => watcher.finals(id).length === 1), 20_000, "B to finish A's runs");
    for (const id of ids) {
      const answer = await http(`${b!.url}/api/v1/runs/${id}`);
      expect(['success', 'failed']).toContain(answer.body.status);
    }
  });

  it('resynchronises subscribers from the store when its Redis subscriber connection drops', async () => {
    const sim = await startSim({ runMs: 120_000 });
    const [a, b] = await startCluster(sim, 2);
    const ids = await startRuns([a!], 5, 'flow-resync');
    const watcher = await RunWatcher.connect(b!.wsUrl);
    watchers.push(watcher);
    watcher.send({ op: 'subscribe', runIds: ids });
    await waitFor(() => ids.every((id) => watcher.runs.some(({ run }) => run.id === id)), 10_000, 'snapshots on B');
    const admin = testRedis(DB);
    try {
      // Cut B's subscriber and, while it reconnects, finish every run through A.
      const subscribers = await killClientsNamed(admin, `${prefix}subscriber`);
      expect(subscribers).toBe(2);
    } finally {
      await admin.quit();
    }
    await Promise.all(
      ids.map(async (id) => {
        const body = JSON.stringify({ event: 'execution.failed', timestamp: new Date().toISOString(), data: { id, flowId: 'flow-resync', status: 'failed', error: { code: 'X', message: 'x' } } });
        const response = await fetch(`${a!.url}/webhooks/doclo`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-doclo-signature': signWebhookBody(sim.webhookSecret, body) },
          body,
        });
        expect(response.status).toBe(200);
      }),
    );
    await waitFor(() => ids.every((id) => watcher.finals(id).length === 1), 10_000, 'every final state on B');
    await waitFor(() => b!.lines.some((line) => line.msg === 'resynchronised subscribers from the store'), 10_000, 'the resync on B');
    // A quiet window, the point of the check: the bus and the resync both had these changes, and
    // no second final state turns up in 300 ms.
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const id of ids) expect(watcher.finals(id)).toHaveLength(1);
  });
});
