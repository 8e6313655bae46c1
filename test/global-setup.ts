import { rmSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { buildPrivately } from './support/private-build.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A private build of src/ (like dist/) for tests that spawn `node <dir>/cli.js`. */
    rungateBuildDir: string;
  }
}

/**
 * Builds src/ (and the client package) once per test run into a private folder (see
 * buildPrivately), and hands its path to the tests; removes it afterwards.
 */
export default function setup(project: TestProject): () => void {
  const outDir = buildPrivately('test-build');
  project.provide('rungateBuildDir', outDir);
  return () => rmSync(outDir, { recursive: true, force: true });
}
