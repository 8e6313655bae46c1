import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, type Outcome } from '../support/cli-process.js';
import { freePort } from '../support/spawned-gateway.js';

/** The one line a failed command wrote on stderr (failing the test if it wrote more). */
function oneLine(result: Outcome): string {
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  return lines[0]!;
}

/** A stack frame of a printed error ("    at fn (file:…)"). */
const STACK_FRAME = /^\s+at \S/m;

describe('what the CLI says when something is wrong (spawned CLI)', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rungate-cli-messages-'));
    writeFileSync(join(dir, 'doc.pdf'), Buffer.from('%PDF-1.4\n% a tiny document\n'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a negative number by its range, not as an ambiguous flag', async () => {
    const result = await cli(['serve', '--poll-concurrency', '-1', '--store', 'memory']);
    expect(result.code).toBe(2);
    expect(oneLine(result)).toBe('rungate: --poll-concurrency: must be between 1 and 1000');
    expect(result.stdout).toBe('');
  });

  it('names the variable and the flag for a bad value from the environment', async () => {
    const result = await cli(['serve'], { RUNGATE_STORE: 'bogus' });
    expect(result.code).toBe(2);
    expect(oneLine(result)).toMatch(/^rungate: RUNGATE_STORE \(--store\): must be 'memory', /);
    const port = await cli(['simulate'], { SIM_PORT: '-3' });
    expect(port.code).toBe(2);
    expect(oneLine(port)).toBe('rungate: SIM_PORT (--port): must be between 0 and 65535');
  });

  it('says in one line which Redis it could not reach, password hidden, no stack trace, exit 1', async () => {
    const port = await freePort();
    const result = await cli(['serve', '--port', '0', '--simulate', '--store', `redis://:hunter2@127.0.0.1:${port}/0`]);
    expect(result.code).toBe(1);
    expect(oneLine(result)).toBe(`rungate: --store: Redis at redis://:***@127.0.0.1:${port}/0 is not reachable: connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(`${result.stdout}${result.stderr}`).not.toContain('hunter2');
    expect(result.stdout).not.toMatch(STACK_FRAME);
    expect(result.stdout).not.toContain('"stack"');
    // Nothing says "listening": the gateway never was.
    expect(result.stdout).not.toContain('"msg":"listening"');
  });

  it('names the URL it tried when the gateway cannot be reached', async () => {
    const blocked = await cli(['run', 'invoice-extractor', join(dir, 'doc.pdf'), '--url', 'http://127.0.0.1:9']);
    expect(blocked.code).toBe(3);
    expect(oneLine(blocked)).toMatch(/^rungate run: cannot reach the gateway at http:\/\/127\.0\.0\.1:9: fetch refuses to connect to port 9 /);
    const port = await freePort();
    const refused = await cli(['watch', 'exec_x', '--url', `http://127.0.0.1:${port}`]);
    expect(refused.code).toBe(3);
    expect(oneLine(refused)).toBe(`rungate watch: cannot reach the gateway at http://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port} (NETWORK_ERROR)`);
  });

  it('exits 64 for usage errors of watch and run, each in one line naming the flag; servers keep 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['watch', '--url'], /^rungate: --url: needs a value$/],
      [['watch', 'exec_x', '--url', '--token', 't'], /^rungate: --url: needs a value/],
      [['run', 'invoice-extractor'], /^rungate: missing arguments: rungate run <flowId> <file>/],
      [['run', 'f', join(dir, 'doc.pdf'), '--metadata', 'nope'], /^rungate: --metadata: must be a JSON object$/],
      [['watch', 'exec_x', 'extra'], /^rungate: unexpected argument 'extra'$/],
    ];
    for (const [args, pattern] of cases) {
      const result = await cli(args);
      expect(result.code, args.join(' ')).toBe(64);
      expect(oneLine(result), args.join(' ')).toMatch(pattern);
    }
    for (const args of [['serve', '--bogus'], ['simulate', '--bogus']]) expect((await cli(args)).code, args.join(' ')).toBe(2);
  });

  it('documents the exit codes, 64 and 130 included, in --help', async () => {
    for (const command of ['watch', 'run']) {
      const help = await cli([command, '--help']);
      expect(help.stdout).toContain('Exit status: 0 success, 1 failed, 2 cancelled, 3 error');
      expect(help.stdout).toContain('64 usage error');
      expect(help.stdout).toContain('130 interrupted (Ctrl-C; the run goes on)');
    }
  });
});
