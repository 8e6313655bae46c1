/** The five statuses rungate speaks; Doclo's `pending` and `completed` are normalised into them. */
export type RunStatus = 'queued' | 'running' | 'success' | 'failed' | 'cancelled';

/** Where a run's latest state came from. */
export type RunSource = 'webhook' | 'poll' | 'request';

/** Run and flow ids: Doclo's `exec_…` ids and flow slugs, and nothing that could smuggle markup. */
export const ID_PATTERN = /^[A-Za-z0-9_.:-]{1,256}$/;

export const FINAL_STATUSES: ReadonlySet<RunStatus> = new Set(['success', 'failed', 'cancelled']);

/** Doclo's run error: `{code, message}` plus `details` (SDK) or `step` (API reference). */
export interface RunError {
  code: string;
  message: string;
  details?: Record<string, unknown>;
  step?: string;
}

/** The fields of a Doclo Execution that rungate reads; the status already normalised. */
export interface ExecutionFields<TOutput = unknown> {
  id: string;
  flowId: string;
  status: RunStatus;
  version?: string;
  createdAt?: string;
  completedAt?: string;
  cancelledAt?: string;
  duration?: number;
  progress?: { step: string; percentage: number };
  output?: TOutput;
  error?: RunError;
  metrics?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
}

/** A Doclo Execution as upstream sends it, status normalised; unknown fields pass through. */
export interface Execution<TOutput = unknown> extends ExecutionFields<TOutput> {
  [field: string]: unknown;
}

/**
 * A run as every rungate answer shows it: Doclo's Execution with the status normalised, plus
 * `seq` (grows with each accepted change) and `source`. Unknown Doclo fields pass through.
 */
export interface Run<TOutput = unknown> extends ExecutionFields<TOutput> {
  seq: number;
  source: RunSource;
  /** Set when the gateway gave up polling an unfinished run (max age or upstream forgot it). */
  stale?: boolean;
  [field: string]: unknown;
}

const STATUS_ALIASES: Record<string, RunStatus> = {
  queued: 'queued',
  pending: 'queued',
  running: 'running',
  processing: 'running',
  success: 'success',
  completed: 'success',
  succeeded: 'success',
  failed: 'failed',
  error: 'failed',
  cancelled: 'cancelled',
  canceled: 'cancelled',
};

/** Maps any Doclo status name onto rungate's five; undefined for a name it does not know. */
export function normalizeStatus(status: unknown): RunStatus | undefined {
  return typeof status === 'string' ? STATUS_ALIASES[status.toLowerCase()] : undefined;
}

/** queued < running < final: a run's state never moves to a lower rank. */
export function statusRank(status: RunStatus): number {
  return status === 'queued' ? 0 : status === 'running' ? 1 : 2;
}

export function isFinal(status: RunStatus): boolean {
  return FINAL_STATUSES.has(status);
}
