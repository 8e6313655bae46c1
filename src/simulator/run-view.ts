import type { SimRun, SimStatus, StatusVocabulary } from './sim-run.js';

const PROGRESS_STEPS: ReadonlyArray<readonly [number, string]> = [
  [25, 'parse'],
  [80, 'extract'],
  [100, 'validate'],
];

/** The status name a client sees under the chosen vocabulary. */
export function statusName(status: SimStatus, vocabulary: StatusVocabulary): string {
  if (vocabulary === 'apiref') {
    if (status === 'queued') return 'pending';
    if (status === 'success') return 'completed';
  }
  return status;
}

/**
 * Doclo's Execution object for a run as it stands at `nowMs`. Progress is computed from the
 * clock rather than stored, so it grows between reads without extra timers. The webhook secret
 * and URL are never shown.
 */
export function toExecution(run: SimRun, vocabulary: StatusVocabulary, nowMs: number): Record<string, unknown> {
  const view: Record<string, unknown> = {
    id: run.id,
    flowId: run.flowId,
    version: run.version,
    status: statusName(run.status, vocabulary),
    createdAt: new Date(run.createdAtMs).toISOString(),
  };
  if (run.status === 'running' && run.startedAtMs !== undefined) {
    const span = Math.max(1, run.plan.durationMs - run.plan.startAfterMs);
    const percentage = Math.min(99, Math.max(1, Math.floor(((nowMs - run.startedAtMs) / span) * 100)));
    const step = PROGRESS_STEPS.find(([upTo]) => percentage < upTo)?.[1] ?? 'validate';
    view.progress = { step, percentage };
  }
  if (run.completedAtMs !== undefined) {
    view.completedAt = new Date(run.completedAtMs).toISOString();
    view.duration = run.completedAtMs - run.createdAtMs;
  }
  if (run.cancelledAtMs !== undefined) view.cancelledAt = new Date(run.cancelledAtMs).toISOString();
  if (run.output !== undefined) view.output = run.output;
  if (run.error !== undefined) view.error = run.error;
  if (run.metrics !== undefined) view.metrics = run.metrics;
  if (run.metadata !== undefined) view.metadata = run.metadata;
  return view;
}
