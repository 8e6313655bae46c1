import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Run as ClientRun, type RungateClient } from '../../src/client/index.js';
import type { Run } from '../../src/runs/run.js';
import { SEQ_GENERATION_STRIDE } from '../../src/runs/seq-rule.js';
import { createSimulator, type Simulator } from '../../src/simulator/index.js';
import { percentile } from '../support/gateway-harness.js';
import { PrivateRedis, redisServerInstalled } from '../support/private-redis.js';
import { uniquePrefix } from '../support/redis.js';
import { buildCli, documentBody, freePort, RunWatcher, spawnGateway, waitFor, type CliBuild, type SpawnedGateway } from '../support/spawned-gateway.js';

/**
 * The shared store loses its data (contract section 4, "Store resets"): two instances with auth
 * on, a Redis of the test's own that keeps nothing on disk, killed with SIGKILL mid-stream and
 * started again empty. Subscribers on both instances — raw WebSockets (every flow as admin,
 * each run by id as its owner) and the client's waitForCompletion — must get each run's final
 * state exactly once, never a lower seq than one they held; REST must agree; runs whose webhook
 * was lost must still be finished by polling; owners must keep access.
 */
const installed = redisServerInstalled();
const SECRET = 'reset-test-secret-0123456789abcdef0123456789';
const FINAL = new Set(['success', 'failed', 'cancelled']);
const RUNS = 16;

const token = (claims: Record<string, unknown>) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('10m').sign(new TextEncoder().encode(SECRET));

/** JSON over HTTP with a bearer token. */
async function api(url: string, bearer: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown> };
}

/** A watcher that authenticates with its first frame. */
async function watcher(url: string, bearer: string): Promise<RunWatcher> {
  const connected = await RunWatcher.connect(url);
  connected.send({ op: 'auth', token: bearer });
  return connected;
}

describe.skipIf(!installed)('cluster mode: the store loses its data mid-stream', () => {
  let build: CliBuild | undefined;
  let dir = '';
  let redis: PrivateRedis | undefined;
  let sim: Simulator | undefined;
  let client: RungateClient | undefined;
  const gateways: SpawnedGateway[] = [];
  const watchers: RunWatcher[] = [];

  beforeAll(() => {
    build = buildCli('redis-reset');
  }, 120_000);

  afterEach(async () => {
    client?.close();
    client = undefined;
    for (const each of watchers.splice(0)) await each.close();
    for (const gateway of gateways.splice(0)) await gateway.kill('SIGKILL');
    await sim?.close();
    sim = undefined;
    await redis?.stop('SIGKILL');
    redis = undefined;
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
    dir = '';
  });

  afterAll(() => build?.remove());

  it('delivers every final state once, above every seq held, and keeps owners and polling', async () => {
    dir = mkdtempSync(join(tmpdir(), 'rungate-redis-reset-'));
    redis = new PrivateRedis(await freePort(), dir, 'none');
    await redis.start();
    // Runs of 2–6 s; 40 % of webhooks never sent, so polling must finish those (also after
    // the reset lost the poll schedule); failed deliveries retried after 0.5, 1, 2 … s.
    sim = await createSimulator({ seed: 31, runMs: 4000, failRate: 0.2, webhookDropRate: 0.4, webhookBackoffMs: 500 });
    const args = [
      '--port', '0',
      '--store', redis.url(0),
      '--redis-prefix', uniquePrefix('reset'),
      '--upstream-url', `${sim.url}/api/v1`,
      '--api-key', 'dc_test_key',
      '--webhook-secret', sim.webhookSecret,
      '--jwt-secret', SECRET,
      '--poll-lease-ms', '3000',
      '--poll-grace-ms', '1000',
      '--poll-min-grace-ms', '500',
      '--poll-interval-ms', '500',
      '--poll-max-interval-ms', '1500',
      '--shutdown-timeout-ms', '1000',
      // Finished runs leave the hot cache after 1 s: those that ended before the loss are then
      // held by no instance, and only their owners' reads bring them back (from upstream).
      '--cache-final-ttl-s', '1',
    ];
    const [a, b] = await Promise.all([spawnGateway(build!.cli, args), spawnGateway(build!.cli, args)]);
    gateways.push(a, b);
    const cluster = [a, b];
    const [alice, bob, admin] = await Promise.all([token({ sub: 'alice' }), token({ sub: 'bob' }), token({ sub: 'root', admin: true })]);

    const everything = await Promise.all(cluster.map((gateway) => watcher(gateway.wsUrl, admin)));
    const owners = await Promise.all(cluster.map((gateway) => watcher(gateway.wsUrl, alice)));
    watchers.push(...everything, ...owners);
    for (const each of everything) each.send({ op: 'subscribe', flowId: '*' });
    await waitFor(() => everything.every((w) => w.other.some((m) => m.type === 'subscribed')), 5000, 'both flow subscriptions');

    const ids: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      const answer = await api(`${cluster[i % 2]!.url}/api/v1/flows/flow-reset-${i % 3}/run`, alice, documentBody());
      expect(answer.status).toBe(200);
      ids.push(answer.body.id as string);
    }
    for (const each of owners) each.send({ op: 'subscribe', runIds: ids });
    client = createClient({ url: b.url, token: alice, reconnect: { initialDelayMs: 100, maxDelayMs: 1000 } });
    const delivered = new Map<string, ClientRun[]>(ids.map((id) => [id, []]));
    for (const id of ids) client.runs.subscribe(id, (run) => delivered.get(id)!.push(run));
    const clientFinalAt = new Map<string, number>();
    const waits = ids.map((id) => client!.runs.waitForCompletion(id, { timeout: 45_000 }).then((run) => (clientFinalAt.set(id, performance.now()), run)));
    // Awaited below; a failure before then closes the client, which must not be an unhandled rejection.
    for (const wait of waits) wait.catch(() => undefined);
    await waitFor(() => owners.every((w) => ids.every((id) => w.runs.some(({ run }) => run.id === id))), 10_000, "every run's first state at its owner");

    // Mid-stream: the first runs have ended (and left the hot cache), most have not.
    await waitFor(() => ids.filter((id) => everything[0]!.finals(id).length > 0).length >= 2, 15_000, 'two runs ended');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const finalsBefore = ids.filter((id) => everything[0]!.finals(id).length > 0).length;
    // REST readers holding for the end (Prefer: wait) across the loss, one on each instance.
    const holding = ids
      .filter((id) => everything[0]!.finals(id).length === 0)
      .slice(0, 2)
      .map((id, i) =>
        fetch(`${cluster[i]!.url}/api/v1/runs/${id}`, { headers: { authorization: `Bearer ${alice}`, prefer: 'wait=45' } }).then(async (response) => ({
          id,
          status: response.status,
          run: (await response.json()) as Run,
        })),
      );
    const downAt = performance.now();
    const downAtMs = Date.now();
    await redis.stop('SIGKILL');
    await waitFor(() => cluster.every((g) => g.lines.some((line) => line.msg === 'Redis connection error')), 10_000, 'both instances losing Redis');
    // Down for a while, so that runs end (and webhooks fail and are retried) meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await redis.start();
    const upAt = performance.now();
    const upAtMs = Date.now();

    const subscribers = [...everything, ...owners];
    await waitFor(() => subscribers.every((w) => ids.every((id) => w.finals(id).length >= 1)), 30_000, 'every final state at every WebSocket subscriber');
    const waited = await Promise.all(waits);
    for (const answer of await Promise.all(holding)) {
      expect(answer.status, `held read of ${answer.id}`).toBe(200);
      expect(FINAL.has(answer.run.status), `held read of ${answer.id} answered ${answer.run.status}`).toBe(true);
    }
    await waitFor(() => cluster.every((g) => g.lines.some((line) => line.msg === 'store was reset')), 10_000, "both instances' reset warning");

    const upstream = new Map<string, Record<string, unknown>>();
    for (const id of ids) upstream.set(id, (await api(`${sim.url}/api/v1/runs/${id}`, 'dc_test_key')).body);
    // REST agrees with the frames, and owners keep access (a stranger still does not get in).
    for (const gateway of cluster) {
      for (const id of ids) {
        const answer = await api(`${gateway.url}/api/v1/runs/${id}`, alice);
        expect(answer.status, `owner reads ${id}`).toBe(200);
        const final = everything[1]!.finals(id)[0]!;
        expect(answer.body.status, `REST status of ${id}`).toBe(final.status);
        expect(answer.body.output, `REST output of ${id}`).toEqual(final.output);
        expect(answer.body.seq as number).toBeGreaterThanOrEqual(final.seq);
        expect((await api(`${gateway.url}/api/v1/runs/${id}`, bob)).status, `a stranger reads ${id}`).toBe(403);
      }
      const listed = await api(`${gateway.url}/api/v1/runs?limit=100`, alice);
      expect((listed.body.data as Run[]).map((run) => run.id).sort(), "the owner's list").toEqual([...ids].sort());
    }

    // Long enough for a late duplicate (a retried webhook, a re-seed, a resync, a record those
    // reads brought back) to show up.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const names = ['A every flow', 'B every flow', 'A owner', 'B owner'];
    for (const [index, each] of subscribers.entries()) {
      for (const id of ids) {
        const frames: Run[] = each.runs.filter(({ run }) => run.id === id).map(({ run }) => run);
        const finals = frames.filter((run) => FINAL.has(run.status));
        expect(finals, `final frames of ${id} at ${names[index]}`).toHaveLength(1);
        expect(finals[0]!.status, `final status of ${id} at ${names[index]}`).toBe(upstream.get(id)!.status);
        expect(frames.at(-1), `the final frame of ${id} is its last at ${names[index]}`).toBe(finals[0]);
        const seqs = frames.map((run) => run.seq);
        for (let i = 1; i < seqs.length; i++) expect(seqs[i]!, `seqs of ${id} at ${names[index]}: ${seqs.join(',')}`).toBeGreaterThan(seqs[i - 1]!);
      }
    }
    // The client: every wait resolved with the real final state, each change delivered once in seq order.
    for (const [i, id] of ids.entries()) {
      expect(waited[i]!.status, `waitForCompletion of ${id}`).toBe(upstream.get(id)!.status);
      const runs = delivered.get(id)!;
      expect(runs.filter((run) => FINAL.has(run.status)), `client finals of ${id}`).toHaveLength(1);
      for (let j = 1; j < runs.length; j++) expect(runs[j]!.seq, `client seqs of ${id}`).toBeGreaterThan(runs[j - 1]!.seq);
    }

    // Finals written after the loss lie above every seq held before it; runs whose webhook was
    // lost and that ended after the kill were still finished by polling.
    const finalsAfterReset = ids.filter((id) => everything[0]!.finals(id)[0]!.seq > SEQ_GENERATION_STRIDE);
    expect(finalsAfterReset.length).toBeGreaterThanOrEqual(1);
    const polledAfterKill = ids.filter((id) => everything[0]!.finals(id)[0]!.source === 'poll' && Date.parse(String(upstream.get(id)!.completedAt)) >= downAtMs);
    expect(sim.stats().webhooks.dropped).toBeGreaterThanOrEqual(1);
    expect(polledAfterKill.length, 'runs with a lost webhook that ended after the kill, finished by polling').toBeGreaterThanOrEqual(1);

    for (const gateway of cluster) {
      expect(gateway.lines.filter((line) => typeof line.msg === 'string' && line.msg.startsWith('Redis keeps nothing on disk') && line.level === 40)).toHaveLength(1);
      const warning = gateway.lines.find((line) => line.msg === 'store was reset')!;
      expect(warning).toMatchObject({ level: 40, generation: 1, previousGeneration: 0 });
      expect(gateway.lines.filter((line) => line.msg === 'unhandled rejection' || line.msg === 'recovering from a store reset failed')).toEqual([]);
      expect(gateway.child.exitCode).toBeNull();
    }

    // What the reset cost: nothing lost (every final everywhere, asserted above); how late.
    const allHadFinal = (id: string) => Math.max(...subscribers.map((w) => w.runs.find(({ run }) => run.id === id && FINAL.has(run.status))!.at), clientFinalAt.get(id)!);
    const endedAtMs = (id: string) => Date.parse(String(upstream.get(id)!.completedAt));
    const sourceOf = (id: string) => everything[0]!.finals(id)[0]!.source;
    const spread = (values: number[]) => (values.length === 0 ? '—' : `p50 ${percentile(values, 50).toFixed(0)} / max ${Math.max(...values).toFixed(0)} ms`);
    const endedBeforeUp = ids.filter((id) => endedAtMs(id) < upAtMs && allHadFinal(id) > upAt);
    const endedAfter = ids.filter((id) => endedAtMs(id) >= upAtMs);
    const lagAfter = (source: string) => endedAfter.filter((id) => sourceOf(id) === source).map((id) => allHadFinal(id) - downAt + downAtMs - endedAtMs(id));
    const warnings = cluster.map((gateway) => gateway.lines.find((line) => line.msg === 'store was reset')!);
    console.log(
      `store reset: Redis down ${((upAt - downAt) / 1000).toFixed(1)} s with ${finalsBefore}/${RUNS} runs final before; lost 0; ` +
        `${endedBeforeUp.length} ended before Redis was back (${endedBeforeUp.filter((id) => sourceOf(id) === 'poll').length} by poll): final at every subscriber ` +
        `${spread(endedBeforeUp.map((id) => allHadFinal(id) - upAt))} after Redis was back; ` +
        `${endedAfter.length} ended after: by webhook ${spread(lagAfter('webhook'))}, by poll ${spread(lagAfter('poll'))} after ending; ` +
        `re-seeded A/B ${warnings.map((w) => `${String(w.restored)}+${String(w.annotated)}`).join('/')} in ${warnings.map((w) => `${String(w.durationMs)} ms`).join('/')}; ` +
        `${finalsAfterReset.length} finals above the new floor, ${polledAfterKill.length} finished by polling after the kill; upstream GETs ${sim.stats().requests.get}`,
    );
  }, 90_000);
});
