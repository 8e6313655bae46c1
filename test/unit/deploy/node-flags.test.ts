import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEPLOY, ROOT, readYaml } from './deploy-files.js';

/** The `node` flags of package.json's start script (what `npm start` runs the gateway with). */
function startScriptFlags(): string[] {
  const { scripts } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const flags = /^node ((?:--\S+ )*)dist\/cli\.js serve$/.exec(scripts.start!)?.[1];
  expect(flags, `start script: ${scripts.start}`).toBeDefined();
  return flags!.trim().split(' ');
}

/** The threads of a node process started with these flags, counted from inside. */
function threadsWith(flags: string[], env: NodeJS.ProcessEnv = {}): number {
  const { NODE_OPTIONS: _ignored, ...rest } = process.env;
  const result = spawnSync(process.execPath, [...flags, '-e', "console.log(require('node:fs').readdirSync('/proc/self/task').length)"], {
    env: { ...rest, ...env },
    encoding: 'utf8',
  });
  expect(result.status, result.stderr).toBe(0);
  return Number(result.stdout.trim());
}

describe('the node flags the gateway runs with', () => {
  const flags = startScriptFlags();

  it('npm start runs node with one V8 helper thread', () => {
    expect(flags).toContain('--v8-pool-size=1');
  });

  it('the image sets the same flags in NODE_OPTIONS, and no deploy file replaces them', () => {
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    const [, quoted, bare] = /^\s*(?:ENV\s+)?NODE_OPTIONS=(?:"([^"]*)"|(\S+))/m.exec(dockerfile) ?? [];
    expect((quoted ?? bare)?.trim().split(/\s+/)).toEqual(flags);
    const compose = ['compose.yaml', 'compose.redis.yaml'].map((file) => readYaml(join(DEPLOY, 'compose', file)));
    for (const file of compose) {
      for (const service of Object.values<{ environment?: unknown }>(file.services)) {
        expect(JSON.stringify(service.environment ?? {})).not.toContain('NODE_OPTIONS');
      }
    }
    for (const file of ['deployment.yaml', 'configmap.yaml']) expect(readFileSync(join(DEPLOY, 'kubernetes', file), 'utf8')).not.toContain('NODE_OPTIONS');
  });

  it.runIf(process.platform === 'linux')('takes three of V8’s four helper threads away, from the command line or NODE_OPTIONS', () => {
    const plain = threadsWith([]);
    expect(threadsWith(flags)).toBe(plain - 3);
    expect(threadsWith([], { NODE_OPTIONS: flags.join(' ') })).toBe(plain - 3);
  });
});
