import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { captureProcess } from '../support/test-logs.js';
import { buildPrivately } from '../support/private-build.js';
import { call, pdfBase64 } from './simulator-helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const API_KEY = `dc_test_${'s'.repeat(50)}`;
// A private build inside node_modules: packages resolve from there, and neither dist/ nor the
// other engineers' builds are touched.
let outDir = '';
let cli = '';

interface Started {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  raw: string[];
  url: string;
}

const children: ChildProcess[] = [];

function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

async function startCli(args: string[]): Promise<Started> {
  const child = spawn(process.execPath, [cli, 'simulate', '--port', '0', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  captureProcess(child, 'rungate simulate');
  const lines: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line; got ${raw.join('\n')}`)), 15_000);
    child.once('exit', (code) => reject(new Error(`exited ${String(code)} before listening`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      raw.push(line);
      const parsed = JSON.parse(line) as Record<string, unknown>;
      lines.push(parsed);
      if (parsed.msg === 'listening') {
        clearTimeout(timer);
        resolve(parsed.url as string);
      }
    });
  });
  return { child, lines, raw, url };
}

describe('rungate simulate (CLI)', () => {
  beforeAll(() => {
    outDir = buildPrivately('sim-cli');
    cli = join(outDir, 'cli.js');
    if (!existsSync(cli) || !existsSync(join(outDir, 'commands', 'simulate.js'))) throw new Error('build did not produce the CLI');
  }, 120_000);

  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exitOf(child);
      }
    }
  });

  afterAll(() => {
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  it('announces the real port, serves the API, prints the dev secret and exits 0 on SIGTERM', async () => {
    const { child, lines, url } = await startCli(['--run-ms', '30', '--seed', '5']);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(url.endsWith(':0')).toBe(false);
    expect(lines.filter((line) => line.msg === 'listening')).toHaveLength(1);
    expect(lines.find((line) => line.msg === 'webhook signing secret')?.signingSecret).toMatch(/^whsec_rungate_dev_/);

    const run = await call(`${url}/api/v1/flows/f/run`, { body: { input: { document: { base64: pdfBase64() } }, wait: true } });
    expect(run.status).toBe(200);
    expect(run.body.status).toBe('success');
    const got = await call(`${url}/api/v1/runs/${run.body.id}`);
    expect(got.body.id).toBe(run.body.id);
    expect((await call(`${url}/_sim/stats`)).body.requests).toMatchObject({ run: 1, get: 1 });

    const started = Date.now();
    child.kill('SIGTERM');
    expect(await exitOf(child)).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('exits 0 on SIGINT too', async () => {
    const { child } = await startCli([]);
    child.kill('SIGINT');
    expect(await exitOf(child)).toBe(0);
  });

  it('never logs the API key or document content, even at debug level', async () => {
    const { child, raw, url } = await startCli(['--api-key', API_KEY, '--log-level', 'debug', '--run-ms', '20', '--webhook-secret', 'whsec_user_given']);
    const doc = pdfBase64('a very secret document body');
    const answer = await call(`${url}/api/v1/flows/f/run`, {
      body: { input: { document: { base64: doc } }, wait: true },
      headers: { authorization: `Bearer ${API_KEY}` },
    });
    expect(answer.status).toBe(200);
    child.kill('SIGTERM');
    expect(await exitOf(child)).toBe(0);
    const output = raw.join('\n');
    expect(output).not.toContain(API_KEY);
    expect(output).not.toContain(doc);
    expect(output).not.toContain('whsec_user_given');
  });

  it.each([
    [['--fail-rate', '2'], '--fail-rate'],
    [['--port', 'abc'], '--port'],
    [['--no-such-flag'], '--no-such-flag'],
    [['--status-vocabulary', 'odd'], '--status-vocabulary'],
  ])('exits 2 naming the flag for %j', async (args, flag) => {
    const child = spawn(process.execPath, [cli, 'simulate', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    expect(await exitOf(child)).toBe(2);
    expect(stderr).toContain(flag);
    expect(stdout).not.toContain('listening');
  });

  it('prints the flags with --help and exits 0', () => {
    const result = spawnSync(process.execPath, [cli, 'simulate', '--help'], { cwd: ROOT, encoding: 'utf8' });
    expect(result.status).toBe(0);
    for (const flag of ['--run-ms', '--fail-rate', '--webhook-drop-rate', '--rate-limit', '--seed', '--status-vocabulary']) {
      expect(result.stdout).toContain(flag);
    }
  });
});
