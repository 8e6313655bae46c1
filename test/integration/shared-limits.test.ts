import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator } from '../../src/simulator/index.js';
import { postgresAvailable, TestDatabase } from '../support/postgres.js';
import { deletePrefix, redisAvailable, redisUrl, testRedis, uniquePrefix } from '../support/redis.js';
import { buildCli, spawnGateway, type CliBuild, type SpawnedGateway } from '../support/spawned-gateway.js';

/**
 * The gateway's own limits count per deployment, not per instance: with a shared store, two
 * instances together allow what one allows alone (REST requests per IP, lookups of unknown runs).
 */
const backends: Array<{ name: string; available: boolean; instances: number; prepare: () => Promise<{ args: string[]; cleanup: () => Promise<void> }> }> = [
  { name: 'memory', available: true, instances: 1, prepare: () => Promise.resolve({ args: ['--store', 'memory'], cleanup: () => Promise.resolve() }) },
  {
    name: 'Redis',
    available: await redisAvailable(),
    instances: 2,
    prepare() {
      const prefix = uniquePrefix('limits');
      return Promise.resolve({
        args: ['--store', redisUrl(0), '--redis-prefix', prefix],
        async cleanup() {
          const admin = testRedis(0);
          try {
            await deletePrefix(admin, prefix);
          } finally {
            await admin.quit();
          }
        },
      });
    },
  },
  {
    name: 'PostgreSQL',
    available: await postgresAvailable(),
    instances: 2,
    async prepare() {
      const db = await TestDatabase.create('limits');
      return { args: ['--store', db.url], cleanup: () => db.drop() };
    },
  },
];

describe.each(backends)('limits on $name across $instances instance(s)', ({ available, instances, prepare }) => {
  let build: CliBuild | undefined;
  let sim: Simulator | undefined;
  let cleanup: (() => Promise<void>) | undefined;
  const gateways: SpawnedGateway[] = [];

  beforeAll(() => {
    build = buildCli('limits');
  }, 120_000);
  afterEach(async () => {
    for (const gateway of gateways.splice(0)) await gateway.kill();
    await sim?.close();
    sim = undefined;
    await cleanup?.();
    cleanup = undefined;
  });
  afterAll(() => build?.remove());

  async function start(extra: string[]): Promise<SpawnedGateway[]> {
    sim = await createSimulator({ seed: 5, runMs: 60_000 });
    const prepared = await prepare();
    cleanup = prepared.cleanup;
    const args = ['--port', '0', ...prepared.args, '--upstream-url', `${sim.url}/api/v1`, '--api-key', 'dc_test_key', '--webhook-secret', sim.webhookSecret, ...extra];
    // One after the other: the second finds the shared schema in place.
    for (let i = 0; i < instances; i++) gateways.push(await spawnGateway(build!.cli, args));
    return gateways;
  }

  it.skipIf(!available)('answers 429 RATE_LIMITED with X-RateLimit-* once the IP has used its requests on any instance', async () => {
    const cluster = await start(['--rate-limit-per-ip', '6']);
    const answers: Response[] = [];
    for (let i = 0; i < 7; i++) answers.push(await fetch(`${cluster[i % cluster.length]!.url}/api/v1/runs?limit=1`));
    expect(answers.slice(0, 6).map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(answers.slice(0, 6).map((answer) => answer.headers.get('x-ratelimit-remaining'))).toEqual(['5', '4', '3', '2', '1', '0']);
    const refused = answers[6]!;
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
    expect(refused.headers.get('x-ratelimit-limit')).toBe('6');
    expect(refused.headers.get('x-ratelimit-remaining')).toBe('0');
    const resetSeconds = Number(refused.headers.get('x-ratelimit-reset'));
    expect(resetSeconds).toBeGreaterThan(Date.now() / 1000);
    expect(resetSeconds).toBeLessThanOrEqual(Date.now() / 1000 + 61);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    // Health and readiness are not REST API requests: never limited.
    expect((await fetch(`${cluster[0]!.url}/readyz`)).status).toBe(200);
    for (const answer of answers.slice(0, 6)) await answer.arrayBuffer();
  });

  it.skipIf(!available)('spends one lookup budget for unknown runs across every instance', async () => {
    const cluster = await start(['--lookups-per-minute', '3']);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const answer = await fetch(`${cluster[i % cluster.length]!.url}/api/v1/runs/exec_unknown_${i}`);
      statuses.push(answer.status);
      await answer.arrayBuffer();
    }
    // Three lookups reach upstream (which knows none of these runs); the rest are refused without asking.
    expect(statuses).toEqual([404, 404, 404, 429, 429]);
    expect(sim!.stats().requests.get).toBe(3);
  });
});
