// Wire types shared with the gateway by type-only imports: they vanish from the built client,
// which therefore pulls no server code into a browser bundle.
import type { ExecutionFields, RunSource } from '../runs/run.js';

export type { RunError, RunSource, RunStatus } from '../runs/run.js';

/** A Doclo Execution, typed like Doclo's SDK: `T` is the flow's output. Unknown fields pass through. */
export interface Execution<T = unknown> extends ExecutionFields<T> {
  traceId?: string;
  [field: string]: unknown;
}

/** A run as rungate shows it: an Execution plus `seq` (grows with each change) and `source`. */
export interface Run<T = unknown> extends Execution<T> {
  seq: number;
  source: RunSource;
  /** Set when the gateway gave up polling an unfinished run. */
  stale?: boolean;
}

/** The document of a run, as Doclo takes it. */
export interface DocumentInput {
  /** Base64 content; a `data:<mime>;base64,` prefix is allowed. */
  base64: string;
  filename?: string;
  mimeType?: string;
}

/** Options of `flows.run`, the ones Doclo's SDK has (the gateway sets the webhook itself). */
export interface FlowRunOptions {
  input: { document: DocumentInput; variables?: Record<string, unknown>; [field: string]: unknown };
  metadata?: Record<string, unknown>;
  version?: string;
  /** De-duplicates retried starts; send one per logical submission. */
  idempotencyKey?: string;
  /** Answer when the run ends (or `timeout` passes) instead of at once. */
  wait?: boolean;
  /** With `wait`: the longest hold in ms (at most 60000). */
  timeout?: number;
}

/** Options of `runs.waitForCompletion`. */
export interface WaitOptions {
  /** Reject with TimeoutError after this many ms; the run goes on (default 300000). */
  timeout?: number;
  /** Stops waiting early; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of `runs.waitForMany`. */
export interface WaitForManyOptions extends WaitOptions {
  /** Called as each run ends, in the order they end. */
  onComplete?: (run: Run) => void;
}

const FINAL: ReadonlySet<string> = new Set(['success', 'failed', 'cancelled']);

/** True for `success`, `failed` and `cancelled`: states that never change again. */
export function isFinalStatus(status: string): boolean {
  return FINAL.has(status);
}

/** queued < running < final: used to accept a newer state even if a gateway lost its seq. */
export function statusRank(status: string): number {
  return status === 'queued' ? 0 : status === 'running' ? 1 : FINAL.has(status) ? 2 : -1;
}
