import { setFlagsFromString } from 'node:v8';

/**
 * How far V8 lets its old generation grow past what the last full collection kept before it
 * collects again: `percent` above it (V8's `--heap-growing-percent`), or V8's own choice at 0.
 *
 * V8 picks the factor from how fast it collects: for a busy service whose collections are cheap
 * it comes out near 4, so a gateway holding 100 MB of live data runs up to 400 MB of heap, and
 * one long full collection's sawtooth decides its RSS from minute to minute. A fixed factor makes
 * the heap's height follow what is live (the configured bounds, live runs and peers) at the cost
 * of more frequent full collections, which V8 does mostly on its helper threads.
 *
 * It is a process-wide V8 setting, read at every collection, so it takes effect from the next one;
 * an explicit `--heap-growing-percent` among node's flags wins.
 */
export function setHeapGrowth(percent: number): void {
  if (process.execArgv.some((arg) => /^--heap[-_]growing[-_]percent/.test(arg))) return;
  // 0 is V8's own "choose for me".
  setFlagsFromString(`--heap-growing-percent=${Math.max(0, Math.round(percent))}`);
}
