import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { Execution } from '../runs/run.js';

/** What `POST /flows/:flowId/run` takes (Doclo's body; `wait` is never sent by the gateway). */
export interface StartRunBody {
  input: Record<string, unknown>;
  version?: string;
  metadata?: Record<string, unknown>;
  /**
   * De-duplicates retried starts upstream. When absent, `startRun` generates one and writes it
   * into this body before the first attempt, so the caller can read back (and persist) the key
   * that every attempt used.
   */
  idempotencyKey?: string;
  webhookUrl?: string;
  webhookSecret?: string;
  [field: string]: unknown;
}

/**
 * Who gets the last requests of a rate window: `high` (starts, cancels: the default) may use the
 * whole budget, `low` (polls) leaves a small reserve for `high` calls.
 */
export type CallPriority = 'high' | 'low';

/** Per-call options of every Upstream method. */
export interface CallOptions {
  /** Aborting stops the request, any wait for the rate budget or a slot, and further retries. */
  signal?: AbortSignal;
  /** Defaults to `high`; the poller passes `low`. */
  priority?: CallPriority;
  /**
   * The longest single wait (a spent rate window, a Retry-After, a backoff) this call may sleep
   * through before it surfaces the error instead; defaults to the client's `maxWaitMs`. A start
   * made for a waiting caller passes a short one, so a long rate-limit pause is answered at once.
   */
  maxWaitMs?: number;
}

/** The rate budget as the last answer's `X-RateLimit-*` headers reported it (absent: never seen). */
export interface RateBudgetSnapshot {
  limit?: number;
  remaining?: number;
  /** When the current window ends (epoch ms; the header carries Unix seconds). */
  resetAtMs?: number;
}

/** A caller's request to pass on to Doclo as it came (the gateway's key instead of the caller's). */
export interface ForwardRequest {
  method: string;
  /** The path below the API base, starting with `/`, and the query: still percent-encoded. */
  pathAndQuery: string;
  /** The caller's headers; hop-by-hop ones and its credentials are dropped here. */
  headers: IncomingHttpHeaders;
  /** The request body, streamed (not read whole); absent for GET and HEAD. */
  body?: Readable;
  /** Aborting (the caller left) ends the exchange, the answer's body included. */
  signal?: AbortSignal;
}

/** Doclo's answer: status and headers as they came, the body a stream to pipe on. */
export interface ForwardAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
}

/**
 * Doclo's runs API as rungate needs it. Every answer is an Execution with the status already
 * normalised. Failures throw UpstreamError (see upstream-error.ts), classified by HTTP status.
 * Calls are retried inside (429, 5xx, network errors, timeouts) before an error surfaces; a start
 * is only retried with an idempotency key (one is generated when the body has none).
 * All calls share one rate budget and one concurrency cap. An aborted `signal` rejects with the
 * signal's reason. After `close()` every pending and later call rejects with an UpstreamError
 * whose code is `RUNGATE_ERR_UPSTREAM_CLOSED`.
 */
export interface Upstream {
  startRun(flowId: string, body: StartRunBody, options?: CallOptions): Promise<Execution>;
  getRun(id: string, options?: CallOptions): Promise<Execution>;
  cancelRun(id: string, options?: CallOptions): Promise<Execution>;
  /**
   * Passes one caller request on to another Doclo route with this client's key, streaming both
   * bodies; never retried (a pass-through answers with whatever Doclo said). Its rate-limit
   * headers feed the shared budget, as every answer's do.
   */
  forward(request: ForwardRequest): Promise<ForwardAnswer>;
  /** The rate budget as the last answer reported it. */
  rateBudget(): RateBudgetSnapshot;
  close(): void;
}
