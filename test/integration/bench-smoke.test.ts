import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { postgresAvailable } from '../support/postgres.js';
import { redisAvailable } from '../support/redis.js';
import { captureProcess } from '../support/test-logs.js';

const ROOT = join(import.meta.dirname, '..', '..');

/**
 * Keeps the benchmark scripts working: every scenario at tiny sizes (`--smoke`: a few runs, 50
 * sockets, 1-s autocannon) against the run-wide test build, never dist/. It checks that the
 * scripts finish, write their JSON and print the table, not the figures: those depend on the
 * machine and belong in `npm run bench`.
 */
describe('npm run bench --smoke', () => {
  const outDir = mkdtempSync(join(tmpdir(), 'rungate-bench-smoke-'));
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  it('runs every scenario with its baseline, writes raw JSON and prints the markdown table', async () => {
    const buildDir = (inject as (key: string) => unknown)('rungateBuildDir');
    expect(typeof buildDir === 'string' && existsSync(join(buildDir, 'gateway.js'))).toBe(true);
    const clusterStores = [...((await redisAvailable()) ? ['redis'] : []), ...((await postgresAvailable()) ? ['postgres'] : [])];
    const scenarios = ['waiting', 'ingest', 'fanout', 'memory', ...(clusterStores.length > 0 ? ['cluster'] : []), 'relay', 'scale'];
    const scaleStores = ['sqlite', ...(clusterStores.includes('postgres') ? ['postgres'] : [])];
    // Recovery under a budget needs two gateways on a shared store: Redis.
    const scaleParts = ['restart', 'list', 'prune', ...(clusterStores.includes('redis') ? ['budget'] : [])];
    const child = spawn(process.execPath, ['bench/run.js', '--smoke', '--scenarios', scenarios.join(','), '--cluster-stores', clusterStores.join(','), '--scale-stores', scaleStores.join(','), '--scale-parts', scaleParts.join(','), '--out', outDir], {
      cwd: ROOT,
      env: { ...process.env, RUNGATE_BENCH_DIST: buildDir as string },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    captureProcess(child, 'bench/run.js --smoke');
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, stderr).toBe(0);

    const files = readdirSync(outDir);
    for (const scenario of scenarios) {
      const file = files.find((name) => name.endsWith(`-${scenario}.json`));
      expect(file, `${scenario} wrote no JSON`).toBeDefined();
      const result = JSON.parse(readFileSync(join(outDir, file!), 'utf8'));
      expect(result.env.smoke).toBe(true);
      expect(result.rows.length).toBeGreaterThan(0);
    }
    const ingest = JSON.parse(readFileSync(join(outDir, files.find((name) => name.endsWith('-ingest.json'))!), 'utf8'));
    // Every webhook was verified and answered 200 by every target.
    expect(ingest.summary.failures).toBe(0);
    const waiting = JSON.parse(readFileSync(join(outDir, files.find((name) => name.endsWith('-waiting.json'))!), 'utf8'));
    // With every webhook arriving, the gateway asked upstream nothing.
    expect(waiting.raw.find((row: { waiter: string; dropRate: number }) => row.waiter === 'rungate' && row.dropRate === 0).getsPerRun).toBe(0);

    const relay = JSON.parse(readFileSync(join(outDir, files.find((name) => name.endsWith('-relay.json'))!), 'utf8'));
    // Every delivery reached the receiver, also with every Doclo webhook lost.
    for (const rep of relay.raw) expect(rep.allDelivered).toBe(true);
    expect(relay.lost.max, "a delivery never came (Infinity is written as null)").not.toBeNull();

    const scale = JSON.parse(readFileSync(join(outDir, files.find((name) => name.endsWith('-scale.json'))!), 'utf8'));
    // Every seeded unfinished run was resumed, and pruning removed every finished one.
    for (const point of scale.raw.restart) expect(point.resumed).toBe(point.size);
    for (const point of scale.raw.prune) expect(point.removed).toBe(point.size);
    // Every run whose webhook was lost was found by a poll, within the simulator's budget.
    for (const point of scale.raw.budget ?? []) expect([point.recovered, point.rateLimited]).toEqual([point.size, 0]);
    expect(stdout).toContain('**Restart with N unfinished runs');

    expect(stdout).toContain('| scenario | measure | rungate | baseline | ratio | goal | met |');
    for (const title of ['Waiting', 'Webhook ingest', 'Fan-out', 'Memory', 'Relay (SQLite)']) expect(stdout).toContain(`| ${title} |`);
  }, 180_000);
});
