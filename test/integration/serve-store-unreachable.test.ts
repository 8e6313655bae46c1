import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, type CliBuild } from '../support/spawned-gateway.js';

/** `rungate serve` with a shared store that does not answer (port 1 on loopback: nothing listens). */
describe('serve with an unreachable --store', () => {
  let build: CliBuild | undefined;
  beforeAll(() => {
    build = buildCli('store-unreachable');
  }, 120_000);
  afterAll(() => build?.remove());

  it.each([
    ['postgres://rungate:hunter2@127.0.0.1:1/rungate', /^rungate: --store: PostgreSQL at postgres:\/\/rungate:\*\*\*@127\.0\.0\.1:1\/rungate is not reachable: .+\n$/],
    ['postgresql://127.0.0.1:1/rungate', /^rungate: --store: PostgreSQL at postgresql:\/\/127\.0\.0\.1:1\/rungate is not reachable: .+\n$/],
    ['redis://:hunter2@127.0.0.1:1/0', /^rungate: --store: Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1\/0 is not reachable: .+\n$/],
  ])('exits non-zero with one line naming --store for %s, password hidden, no stack trace', async (store, line) => {
    const child = spawn(process.execPath, [build!.cli, 'serve', '--port', '0', '--store', store, '--log-level', 'silent'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
    expect(code).not.toBe(0);
    expect(code).not.toBeNull();
    expect(stderr).toMatch(line);
    expect(stderr).not.toContain('hunter2');
    expect(stderr).not.toMatch(/\n\s+at /);
  });
});
