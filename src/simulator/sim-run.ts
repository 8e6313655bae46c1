import type { DocumentFacts } from './document.js';

/** The simulator's own status names (the SDK vocabulary); `run-view.ts` translates for apiref. */
export type SimStatus = 'queued' | 'running' | 'success' | 'failed' | 'cancelled';

/** Which names Doclo uses for "not started" and "succeeded" (doclo-api.md §3.2). */
export type StatusVocabulary = 'sdk' | 'apiref';

/** One simulated run, with its planned fate drawn at creation. Internal: never sent as is. */
export interface SimRun {
  id: string;
  flowId: string;
  version: string;
  status: SimStatus;
  createdAtMs: number;
  /** Planned offsets from creation, drawn from the seeded RNG at creation. */
  plan: { startAfterMs: number; durationMs: number; fails: boolean };
  startedAtMs?: number;
  completedAtMs?: number;
  cancelledAtMs?: number;
  document: DocumentFacts;
  metadata?: Record<string, unknown>;
  webhookUrl?: string;
  webhookSecret?: string;
  output?: Record<string, unknown>;
  error?: { code: string; message: string; step: string };
  metrics?: Record<string, number>;
}

/** success, failed and cancelled never change again. */
export function isTerminal(status: SimStatus): boolean {
  return status === 'success' || status === 'failed' || status === 'cancelled';
}
