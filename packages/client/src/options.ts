// The option shapes of the client's calls.

import type { Run } from './run.js';

/** The document of a run, as Doclo takes it. */
export interface DocumentInput {
  /** Base64 content; a `data:<mime>;base64,` prefix is allowed. */
  base64: string;
  filename?: string;
  mimeType?: string;
}

/** Options of `flows.run`, the ones Doclo's SDK has. */
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
  /**
   * Your own receiver: the gateway delivers the run's final state there as Doclo's webhook would
   * (signed, retried until delivered; see `runs.deliveries`). Doclo itself is given the gateway's.
   */
  webhookUrl?: string;
}

/** Options of `runs.waitForCompletion`. */
export interface WaitOptions {
  /**
   * Reject with TimeoutError after this many ms; the run goes on (default 300000). If the gateway
   * could not be reached by then, the rejection is a NetworkError that says so.
   */
  timeout?: number;
  /** Stops waiting early; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of `runs.waitForMany`. */
export interface WaitForManyOptions extends WaitOptions {
  /** Called as each run ends, in the order they end. */
  onComplete?: (run: Run) => void;
}
