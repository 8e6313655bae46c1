import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

function tsc(args: string[]): void {
  spawnSync(process.execPath, [TSC, ...args, '--declaration', 'false', '--declarationMap', 'false', '--sourceMap', 'false'], { cwd: ROOT, stdio: 'ignore' });
}

/**
 * Builds src/ (like dist/) into a fresh folder inside node_modules/.cache, so neither dist/ nor
 * another engineer's concurrent build is touched and packages resolve from the repository's
 * node_modules. The client package is built into the folder's own node_modules/@rungate/client,
 * which Node finds before the repository's link to packages/client: the build never runs a stale
 * packages/client/dist. A part mid-change elsewhere may not type-check; tsc still emits, which is
 * all a spawned process needs. Returns the folder; throws if `cli.js` is missing.
 */
export function buildPrivately(label: string): string {
  mkdirSync(join(ROOT, 'node_modules', '.cache'), { recursive: true });
  const outDir = mkdtempSync(join(ROOT, 'node_modules', '.cache', `rungate-${label}-`));
  const clientDir = join(outDir, 'node_modules', '@rungate', 'client');
  mkdirSync(clientDir, { recursive: true });
  copyFileSync(join(ROOT, 'packages', 'client', 'package.json'), join(clientDir, 'package.json'));
  tsc(['-p', join('packages', 'client', 'tsconfig.json'), '--outDir', join(clientDir, 'dist')]);
  tsc(['-p', 'tsconfig.build.json', '--outDir', outDir]);
  // The dashboard's script, bundled as `npm run build` does.
  spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-dashboard.js'), '--out', outDir], { cwd: ROOT, stdio: 'ignore' });
  if (!existsSync(join(outDir, 'cli.js')) || !existsSync(join(clientDir, 'dist', 'index.js')) || !existsSync(join(outDir, 'dashboard', 'dashboard.js'))) {
    throw new Error(`the ${label} build did not produce cli.js, the client and the dashboard script`);
  }
  return outDir;
}
