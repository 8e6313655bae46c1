import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A private build of src/ (like dist/) for tests that spawn `node <dir>/cli.js`. */
    rungateBuildDir: string;
  }
}

const ROOT = join(import.meta.dirname, '..');

/**
 * Builds src/ once per test run into a private folder inside node_modules (so packages resolve
 * from there, and neither dist/ nor another engineer's concurrent build is touched), and hands
 * its path to the tests; removes it afterwards.
 */
export default function setup(project: TestProject): () => void {
  mkdirSync(join(ROOT, 'node_modules', '.cache'), { recursive: true });
  const outDir = mkdtempSync(join(ROOT, 'node_modules', '.cache', 'rungate-test-build-'));
  // A part mid-change elsewhere may not type-check; tsc still emits, which is all the tests need.
  spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--outDir', outDir, '--declaration', 'false', '--sourceMap', 'false'], {
    cwd: ROOT,
    stdio: 'ignore',
  });
  if (!existsSync(join(outDir, 'cli.js'))) throw new Error('the test build did not produce cli.js');
  project.provide('rungateBuildDir', outDir);
  return () => rmSync(outDir, { recursive: true, force: true });
}
