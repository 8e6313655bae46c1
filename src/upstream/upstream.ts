import type { Execution } from '../runs/run.js';

/** What `POST /flows/:flowId/run` takes (Doclo's body; `wait` is never sent by the gateway). */
export interface StartRunBody {
  input: Record<string, unknown>;
  version?: string;
  metadata?: Record<string, unknown>;
  idempotencyKey?: string;
  webhookUrl?: string;
  webhookSecret?: string;
  [field: string]: unknown;
}

export interface CallOptions {
  signal?: AbortSignal;
}

/**
 * Doclo's runs API as rungate needs it. Every answer is an Execution with the status already
 * normalised. Failures throw UpstreamError (see upstream-error.ts), classified by HTTP status.
 * Calls are retried inside (429, 5xx, network errors, timeouts) before an error surfaces; a start
 * is only retried with an idempotency key.
 */
export interface Upstream {
  startRun(flowId: string, body: StartRunBody, options?: CallOptions): Promise<Execution>;
  getRun(id: string, options?: CallOptions): Promise<Execution>;
  cancelRun(id: string, options?: CallOptions): Promise<Execution>;
  /** The rate budget as the last answer reported it. */
  rateBudget(): { limit?: number; remaining?: number; resetAtMs?: number };
  close(): void;
}
