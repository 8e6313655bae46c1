// The client's own copies of the wire types: it must not pull server code into a browser bundle.

/** The five statuses rungate speaks (Doclo's `pending`/`completed` arrive already normalised). */
export type RunStatus = 'queued' | 'running' | 'success' | 'failed' | 'cancelled';

/** Where a run's latest state came from. */
export type RunSource = 'webhook' | 'poll' | 'request';

/** Doclo's run error: `{code, message}` plus `details` (SDK) or `step` (API reference). */
export interface RunError {
  code: string;
  message: string;
  details?: Record<string, unknown>;
  step?: string;
}

/** A Doclo Execution, typed like Doclo's SDK: `T` is the flow's output. Unknown fields pass through. */
export interface Execution<T = unknown> {
  id: string;
  flowId: string;
  status: RunStatus;
  version?: string;
  createdAt?: string;
  completedAt?: string;
  cancelledAt?: string;
  duration?: number;
  progress?: { step: string; percentage: number };
  output?: T;
  error?: RunError;
  metrics?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
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
