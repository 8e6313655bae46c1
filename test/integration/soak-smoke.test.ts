import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

/**
 * Keeps `npm run soak` working: a few seconds of light load against the run-wide test build. It
 * checks what holds at any size — every subscriber got every final state once, no 5xx — and that
 * the table, JSON and plot come out; memory and latency goals need the real length.
 */
describe('npm run soak, a few seconds of it', () => {
  const outDir = mkdtempSync(join(tmpdir(), 'rungate-soak-smoke-'));
  afterAll(() => rmSync(outDir, { recursive: true, force: true }));

  it('delivers every final state once to every subscriber and writes its table, JSON and SVG', async () => {
    const buildDir = (inject as (key: string) => unknown)('rungateBuildDir');
    expect(typeof buildDir === 'string' && existsSync(join(buildDir, 'gateway.js'))).toBe(true);
    const args = ['bench/soak.js', '--minutes', '0.15', '--rate', '20', '--subscribers', '8', '--subscribers-per-run', '2', '--connections', '4', '--reads', '2', '--sample-s', '3', '--drain-s', '60', '--out', outDir];
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, RUNGATE_BENCH_DIST: buildDir as string }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, stderr).toBe(0);

    expect(stdout).toContain('| minute | RSS MiB | JS heap MiB | longest stall ms | longest GC pause ms | push p50 ms | push p99 ms | runs finished | webhooks/s |');
    const files = readdirSync(outDir);
    const json = files.find((name) => name.endsWith('.json'));
    expect(files.some((name) => name.endsWith('.svg'))).toBe(true);
    const result = JSON.parse(readFileSync(join(outDir, json!), 'utf8'));
    expect(result.verify.runsChecked).toBeGreaterThan(0);
    expect(result.verify.lost).toBe(0);
    expect(result.verify.unfinished).toBe(0);
    expect(result.verify.totals.duplicateFinals).toBe(0);
    expect(result.verify.totals.seqRegressions).toBe(0);
    expect(result.verify.totals.http5xx).toBe(0);
  }, 120_000);
});
