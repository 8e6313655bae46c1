// The run's wire shapes and the helpers both sides need are owned by the client package, so the
// gateway and its client cannot drift apart; the gateway's own domain rules follow.
import type { RunStatus } from '@rungate/client';

export type { Execution, ExecutionFields, Run, RunError, RunSource, RunStatus, TimelineEntry } from '@rungate/client';
export { FINAL_STATUSES, ID_PATTERN, isFinalStatus as isFinal, statusRank } from '@rungate/client/shared';

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
