import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as rungateClient from '../../src/client/index.js';
import * as clientPackage from '@rungate/client';
import { postJson, startBody, startStack, type Stack } from '../support/gateway-harness.js';

const ROOT = join(import.meta.dirname, '..', '..');
const PACKAGE_DIR = join(ROOT, 'packages', 'client');
/** The gateway's own dependencies: none may come with the client. */
const SERVER_PACKAGES = ['express', 'express-rate-limit', 'helmet', 'ioredis', 'better-sqlite3', 'pino', 'pg', 'prom-client', 'node-cache', 'jose'];

/** The environment without what a surrounding `npm test` put there (it would point npm at the repository). */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key) && key !== 'INIT_CWD'));
}

function npm(args: string[], cwd: string): string {
  const result = spawnSync('npm', args, { cwd, env: cleanEnv(), encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`npm ${args.join(' ')} failed in ${cwd}: ${result.stderr}`);
  return result.stdout;
}

/** Every package under `node_modules`, scoped ones as `@scope/name`. */
function installedPackages(dir: string): string[] {
  const names: string[] = [];
  for (const entry of readdirSync(join(dir, 'node_modules'))) {
    if (entry.startsWith('.')) continue;
    if (entry.startsWith('@')) for (const scoped of readdirSync(join(dir, 'node_modules', entry))) names.push(`${entry}/${scoped}`);
    else names.push(entry);
  }
  return names.sort();
}

/** Runs an ES module script with `node` in `cwd`, so bare imports resolve from there. */
function runModule(cwd: string, source: string, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', source], { cwd, env: { ...cleanEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

describe('@rungate/client as a package of its own', () => {
  let stage = '';
  let app = '';
  let files: string[] = [];

  beforeAll(() => {
    // Packed from a copy, so that its prepack build never rewrites packages/client/dist under a
    // running suite; inside node_modules/.cache, so that the build finds the repository's tsc.
    mkdirSync(join(ROOT, 'node_modules', '.cache'), { recursive: true });
    stage = mkdtempSync(join(ROOT, 'node_modules', '.cache', 'rungate-client-pack-'));
    const copy = join(stage, 'client');
    cpSync(PACKAGE_DIR, copy, { recursive: true, filter: (path) => !['dist', 'node_modules'].includes(relative(PACKAGE_DIR, path)) });
    const [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', stage], copy)) as Array<{ filename: string; files: Array<{ path: string }> }>;
    files = packed!.files.map((file) => file.path);
    // An empty folder outside the repository, so nothing resolves from the repository's node_modules.
    app = mkdtempSync(join(tmpdir(), 'rungate-client-app-'));
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'client-app', version: '1.0.0', private: true, type: 'module' }));
    npm(['install', '--no-audit', '--no-fund', '--offline', join(stage, packed!.filename)], app);
  }, 120_000);

  afterAll(() => {
    if (stage) rmSync(stage, { recursive: true, force: true });
    if (app) rmSync(app, { recursive: true, force: true });
  });

  it('packs its build, its types and its sources, nothing else', () => {
    for (const path of ['package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/shared.js', 'dist/shared.d.ts', 'src/index.ts']) expect(files).toContain(path);
    expect(files.every((path) => /^(package\.json|README\.md|dist\/|src\/)/.test(path))).toBe(true);
  });

  it('installs alone: no server dependency, and no ws (an optional peer, for Node 20 only)', () => {
    const installed = installedPackages(app);
    expect(installed).toEqual(['@rungate/client']);
    for (const name of [...SERVER_PACKAGES, 'ws']) expect(installed).not.toContain(name);
  });

  it('imports from the installed package: the client and the shared helpers', async () => {
    const result = await runModule(
      app,
      `const client = await import('@rungate/client');
       const shared = await import('@rungate/client/shared');
       const c = client.createClient({ url: 'http://127.0.0.1:1' });
       c.close();
       console.log(JSON.stringify({
         createClient: typeof client.createClient,
         timeoutName: new client.TimeoutError('x').name,
         isTimeoutDoclo: new client.TimeoutError('x') instanceof client.DocloError,
         final: shared.isFinalStatus('cancelled'),
       }));`,
    );
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({ createClient: 'function', timeoutName: 'TimeoutError', isTimeoutDoclo: true, final: true });
  });

  it('bundles for browsers from the installed package, with ws absent', async () => {
    writeFileSync(join(app, 'entry.js'), "import { createClient } from '@rungate/client';\nexport const make = createClient;\n");
    const result = await build({ entryPoints: [join(app, 'entry.js')], absWorkingDir: app, bundle: true, minify: true, format: 'esm', platform: 'browser', write: false, metafile: true, logLevel: 'silent' });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((path) => path.includes('@rungate/client/dist/client.js'))).toBe(true);
    expect(inputs.filter((path) => path.includes('ws') && !path.startsWith('(disabled)'))).toEqual([]);
  });

  it('keeps its browser bundle small (npm run size:client)', () => {
    const measured = spawnSync(process.execPath, [join(ROOT, 'scripts', 'client-bundle-size.js'), '--json'], { cwd: ROOT, encoding: 'utf8' });
    expect(measured.status, measured.stderr).toBe(0);
    const figures = JSON.parse(measured.stdout) as { minifiedBytes: number; gzipBytes: number; inputs: string[] };
    expect(figures.inputs.every((path) => path.startsWith('packages/client/src/'))).toBe(true);
    // README gives the figure; this bound leaves room for growth, not for a dependency.
    expect(figures.gzipBytes).toBeLessThan(10 * 1024);
  });

  describe('against a live gateway', () => {
    let stack: Stack;
    beforeAll(async () => {
      stack = await startStack({ sim: { runMs: 300, failRate: 0, seed: 5 } });
    });
    afterAll(async () => {
      await stack?.close();
    });

    it('waits for a run with nothing but the package installed (long-polling where Node has no WebSocket)', async () => {
      const started = await postJson(`${stack.url}/api/v1/flows/invoice-extractor/run`, startBody());
      const result = await runModule(
        app,
        `const { createClient } = await import('@rungate/client');
         const client = createClient({ url: process.env.GATEWAY_URL, fallbackAfterMs: 100 });
         const run = await client.runs.waitForCompletion(process.env.RUN_ID, { timeout: 20000 });
         client.close();
         console.log(JSON.stringify({ id: run.id, status: run.status }));`,
        { GATEWAY_URL: stack.url, RUN_ID: started.body.id as string },
      );
      expect(result.stderr).toBe('');
      expect(JSON.parse(result.stdout)).toEqual({ id: started.body.id, status: 'success' });
    });
  });

  it('is what rungate/client re-exports', () => {
    expect(Object.keys(rungateClient).sort()).toEqual(Object.keys(clientPackage).sort());
    expect(rungateClient.createClient).toBe(clientPackage.createClient);
    expect(rungateClient.TimeoutError).toBe(clientPackage.TimeoutError);
  });
});
