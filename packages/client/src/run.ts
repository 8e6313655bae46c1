// The wire shapes of a run, as the gateway answers over REST and pushes over the socket. This
// package owns them: the gateway imports them from here (type-only), so there is one definition.

import { isPlainObject } from './is-plain-object.js';

/** The five statuses rungate speaks; Doclo's `pending` and `completed` are normalised into them. */
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

/** The fields of a Doclo Execution that rungate reads; the status already normalised. */
export interface ExecutionFields<T = unknown> {
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
}

/** A Doclo Execution, typed like Doclo's SDK: `T` is the flow's output. Unknown fields pass through. */
export interface Execution<T = unknown> extends ExecutionFields<T> {
  traceId?: string;
  [field: string]: unknown;
}

/**
 * A run as every rungate answer shows it: Doclo's Execution with the status normalised, plus
 * `seq` (grows with each accepted change) and `source`. Unknown Doclo fields pass through.
 */
export interface Run<T = unknown> extends Execution<T> {
  seq: number;
  source: RunSource;
  /** Set when the gateway gave up polling an unfinished run (max age or upstream forgot it). */
  stale?: boolean;
}

/** One delivery of a run's final state to the caller's own webhookUrl, as `runs.deliveries` shows it. */
export interface Delivery {
  /** The `webhook-id` header, the same on every attempt. */
  id: string;
  /** Without its query string. */
  url: string;
  event: 'execution.completed' | 'execution.failed' | 'execution.cancelled';
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  lastAttemptAt?: string;
  lastStatus?: number;
  /** `timeout`, a network error code, `blocked` (the host resolved to a private address), `max age reached`. */
  lastError?: string;
  nextAttemptAt?: string;
  deliveredAt?: string;
}

/**
 * Run and flow ids (contract section 2): Doclo's `exec_…` ids and flow slugs, and nothing that
 * could smuggle markup or a path. The first character is a letter or digit, so an id is never a
 * `.` or `..` segment that a URL resolver would step out of the route with.
 */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,255}$/;

/** True for a string that `ID_PATTERN` accepts. */
export function isValidId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

/** The statuses that never change again. */
export const FINAL_STATUSES: ReadonlySet<RunStatus> = new Set<RunStatus>(['success', 'failed', 'cancelled']);

/** True for `success`, `failed` and `cancelled`: states that never change again. */
export function isFinalStatus(status: string): boolean {
  return (FINAL_STATUSES as ReadonlySet<string>).has(status);
}

/**
 * queued < running < final (-1 for a status rungate does not speak): a run's state never moves to
 * a lower rank, so a higher rank is news even when a gateway that lost its store restarted `seq`.
 */
export function statusRank(status: string): number {
  return status === 'queued' ? 0 : status === 'running' ? 1 : isFinalStatus(status) ? 2 : -1;
}

/** A message's `run` as far as the client relies on it: an object with id, status and seq. */
export function looksLikeRun(value: unknown): value is Run {
  return isPlainObject(value) && typeof value.id === 'string' && typeof value.status === 'string' && typeof value.seq === 'number';
}

/** One accepted change of a run (`GET /api/v1/runs/:id/timeline`): where a state came from and when. */
export interface TimelineEntry {
  seq: number;
  status: RunStatus;
  source: RunSource;
  /** When the gateway accepted the change (ISO 8601). */
  at: string;
  progress?: { step: string; percentage: number };
}

/** A page of the gateway's run list, newest first. */
export interface RunPage<T = unknown> {
  data: Array<Run<T>>;
  nextCursor?: string;
}
