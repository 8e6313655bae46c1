import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, type CliBuild } from '../support/spawned-gateway.js';

const ROOT = join(import.meta.dirname, '..', '..');

/**
 * Contract section 1: a server exits within 10 s of SIGTERM also when its stdout has become a
 * closed pipe (`rungate serve | head -3`, then the reader died). The child's stdout is a real
 * pipe whose reading end this test closes, so every later log line meets EPIPE.
 */
describe('shutdown with a closed stdout', () => {
  let build: CliBuild;
  const children: ChildProcess[] = [];
  beforeAll(() => {
    build = buildCli('closed-stdout');
  }, 120_000);
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  afterAll(() => build.remove());

  /** Starts `command`, waits for its listening line, then closes the pipe's reading end. */
  async function startThenCloseStdout(command: string, args: string[]): Promise<{ child: ChildProcess; url: string; exited: Promise<number | null> }> {
    const child = spawn(process.execPath, [build.cli, command, '--port', '0', '--log-level', 'debug', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] });
    children.push(child);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no listening line')), 20_000);
      const lines = createInterface({ input: child.stdout });
      lines.on('line', (line) => {
        if (!line.includes('"msg":"listening"')) return;
        clearTimeout(timer);
        lines.close();
        resolve((JSON.parse(line) as { url: string }).url);
      });
    });
    // The log reader dies: the pipe's only reading end goes away.
    child.stdout.destroy();
    return { child, url, exited };
  }

  async function exitsWithinTenSeconds(child: ChildProcess, exited: Promise<number | null>): Promise<number> {
    const began = performance.now();
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 12_000))]);
    const tookMs = performance.now() - began;
    expect(code, 'the process is still running 12 s after SIGTERM').not.toBe('hung');
    expect(tookMs).toBeLessThan(10_000);
    return code as number;
  }

  it('rungate serve exits 0 within 10 s of SIGTERM after its log reader died', async () => {
    const { child, url, exited } = await startThenCloseStdout('serve', ['--store', 'memory', '--sim-run-ms', '200']);
    // Work that logs (a 404 is a warn line, a start several debug lines) hits the broken pipe.
    for (let i = 0; i < 20; i++) await (await fetch(`${url}/no-such-route-${i}`)).text();
    await (await fetch(`${url}/api/v1/flows/f/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"input":{}}' })).text();
    expect(await exitsWithinTenSeconds(child, exited)).toBe(0);
  }, 60_000);

  it('rungate simulate exits 0 within 10 s of SIGTERM after its log reader died', async () => {
    const { child, url, exited } = await startThenCloseStdout('simulate', []);
    for (let i = 0; i < 20; i++) await (await fetch(`${url}/api/v1/runs/exec_none${i}`)).text();
    expect(await exitsWithinTenSeconds(child, exited)).toBe(0);
  }, 60_000);
});
