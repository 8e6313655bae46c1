import { RungateError } from '../errors.js';

/**
 * Remembers which run each `idempotencyKey` created, for the simulator's lifetime. Keys are
 * global (not per flow): reusing a key for another flow or another body is a 409
 * IDEMPOTENCY_KEY_CONFLICT, because the flow id is part of the fingerprint.
 */
export interface IdempotencyIndex {
  /** The run id an earlier identical request created; throws 409 when the content differs. */
  lookup(key: string, fingerprint: string): string | undefined;
  remember(key: string, fingerprint: string, runId: string): void;
}

/** An in-memory index; entries live as long as the simulator (no 24 h expiry). */
export function createIdempotencyIndex(): IdempotencyIndex {
  const entries = new Map<string, { fingerprint: string; runId: string }>();
  return {
    lookup(key, fingerprint) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      if (entry.fingerprint !== fingerprint) {
        throw new RungateError('IDEMPOTENCY_KEY_CONFLICT', { message: 'Idempotency key was already used with a different request', details: {
          idempotencyKey: key,
          executionId: entry.runId,
        } });
      }
      return entry.runId;
    },
    remember(key, fingerprint, runId) {
      entries.set(key, { fingerprint, runId });
    },
  };
}
