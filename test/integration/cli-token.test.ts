import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Authenticator } from '../../src/auth/authenticator.js';
import { AuthError } from '../../src/errors.js';
import { startStack, type Stack } from '../support/gateway-harness.js';
import { cli } from '../support/cli-process.js';

const SECRET = 'a-test-secret-that-is-long-enough-0123456789';
const VERSION = (JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;

/** The gateway's own authenticator, with the secret the tokens are signed with. */
const authenticator = new Authenticator({ jwtSecret: SECRET, clientKeys: new Map() });

describe('rungate --version (spawned CLI)', () => {
  it("prints package.json's version and exits 0, as --version and as -v", async () => {
    for (const flag of ['--version', '-v']) {
      const result = await cli([flag]);
      expect(result).toMatchObject({ code: 0, stdout: `rungate ${VERSION}\n`, stderr: '' });
    }
  });

  it('lists token and --version in the usage', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('token --sub OWNER');
    expect(help.stdout).toContain('--version');
    expect(help.stdout).toContain('64 usage error, 130 Ctrl-C');
  });
});

describe('rungate token (spawned CLI)', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ sim: { runMs: 200, failRate: 0 }, args: ['--jwt-secret', SECRET] });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it("prints a token the gateway's authenticator accepts, valid for an hour by default", async () => {
    const before = Math.floor(Date.now() / 1000);
    const result = await cli(['token', '--sub', 'alice', '--jwt-secret', SECRET]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const token = result.stdout.trim();
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'HS256', typ: 'JWT' });
    const principal = await authenticator.verify(token);
    expect(principal).toMatchObject({ sub: 'alice', admin: false });
    expect([...principal.runs]).toEqual([]);
    const { exp, iat } = decodeJwt(token);
    expect(iat).toBeGreaterThanOrEqual(before);
    expect(exp! - iat!).toBe(3600);
  });

  it('carries --admin, --runs and --ttl; the secret may come from RUNGATE_JWT_SECRET', async () => {
    const result = await cli(['token', '--sub', 'ops', '--admin', '--runs', 'exec_a,exec_b', '--runs', 'exec_c', '--ttl', '7d'], { RUNGATE_JWT_SECRET: SECRET });
    expect(result.code).toBe(0);
    const token = result.stdout.trim();
    const principal = await authenticator.verify(token);
    expect(principal).toMatchObject({ sub: 'ops', admin: true });
    expect([...principal.runs]).toEqual(['exec_a', 'exec_b', 'exec_c']);
    const { exp, iat } = decodeJwt(token);
    expect(exp! - iat!).toBe(7 * 86_400);
    for (const [ttl, seconds] of [['90s', 90], ['30m', 1800], ['12h', 43_200], ['600', 600]] as const) {
      const minted = await cli(['token', '--sub', 'x', '--ttl', ttl], { RUNGATE_JWT_SECRET: SECRET });
      const claims = decodeJwt(minted.stdout.trim());
      expect(claims.exp! - claims.iat!, ttl).toBe(seconds);
    }
  });

  it('opens the gateway, where a token signed with another secret does not', async () => {
    const token = (await cli(['token', '--sub', 'carol', '--ttl', '5m'], { RUNGATE_JWT_SECRET: SECRET })).stdout.trim();
    const refused = await fetch(`${stack.url}/api/v1/runs`);
    expect(refused.status).toBe(401);
    const listed = await fetch(`${stack.url}/api/v1/runs`, { headers: { authorization: `Bearer ${token}` } });
    expect(listed.status).toBe(200);
    const forged = (await cli(['token', '--sub', 'carol'], { RUNGATE_JWT_SECRET: `${SECRET}-not-the-same` })).stdout.trim();
    expect((await fetch(`${stack.url}/api/v1/runs`, { headers: { authorization: `Bearer ${forged}` } })).status).toBe(401);
    await expect(authenticator.verify(forged)).rejects.toBeInstanceOf(AuthError);
  });

  it('exits 64 naming the flag without --sub, without a secret, or with a bad value, and prints no token', async () => {
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [['token', '--jwt-secret', SECRET], {}, /--sub: required/],
      [['token', '--sub', 'alice'], {}, /--jwt-secret: required \(or RUNGATE_JWT_SECRET\)/],
      [['token', '--sub', 'alice', '--jwt-secret', '   '], {}, /--jwt-secret: must not be empty or only whitespace/],
      [['token', '--sub', 'alice'], { RUNGATE_JWT_SECRET: ' \t ' }, /RUNGATE_JWT_SECRET \(--jwt-secret\): must not be empty or only whitespace/],
      [['token', '--sub', '  ', '--jwt-secret', SECRET], {}, /--sub: must not be empty/],
      [['token', '--sub', 'a', '--jwt-secret', SECRET, '--ttl', '1w'], {}, /--ttl: expected seconds or a number with a unit/],
      [['token', '--sub', 'a', '--jwt-secret', SECRET, '--ttl', '0'], {}, /--ttl: must be between 1s and 3650d/],
      [['token', '--sub', 'a', '--jwt-secret', SECRET, '--ttl', '-5'], {}, /--ttl: expected seconds/],
      [['token', '--sub', 'a', '--jwt-secret', SECRET, '--runs', 'ok,../etc'], {}, /--runs: '\.\.\/etc' is not a run id/],
      [['token', '--sub', 'a', '--jwt-secret', SECRET, '--bogus'], {}, /unknown flag --bogus/],
    ];
    for (const [args, env, pattern] of cases) {
      const result = await cli(args, env);
      expect(result.code, args.join(' ')).toBe(64);
      expect(result.stdout, args.join(' ')).toBe('');
      expect(result.stderr, args.join(' ')).toMatch(pattern);
      expect(result.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
  });

  it('warns on stderr, not stdout, about a short secret', async () => {
    const result = await cli(['token', '--sub', 'a', '--jwt-secret', 'short']);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('shorter than 32 characters');
    expect(result.stdout.trim().split('.')).toHaveLength(3);
  });
});
