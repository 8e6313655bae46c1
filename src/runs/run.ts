// The run's wire shapes and the helpers both sides need are owned by the client package, so the
// gateway and its client cannot drift apart; the gateway's own domain rules follow.
import type { RunStatus } from '@rungate/client';

export type { Execution, ExecutionFields, Run, RunError, RunSource, RunStatus, TimelineEntry } from '@rungate/client';
export { FINAL_STATUSES, ID_PATTERN, isFinalStatus as isFinal, statusRank } from '@rungate/client/shared';

// A Map, not an object literal: a status such as `constructor` or `__proto__` comes from the
// outside (a query, a webhook) and must not find Object.prototype's members.
const STATUS_ALIASES: ReadonlyMap<string, RunStatus> = new Map<string, RunStatus>([
  ['queued', 'queued'],
  ['pending', 'queued'],
  ['running', 'running'],
  ['processing', 'running'],
  ['success', 'success'],
  ['completed', 'success'],
  ['succeeded', 'success'],
  ['failed', 'failed'],
  ['error', 'failed'],
  ['cancelled', 'cancelled'],
  ['canceled', 'cancelled'],
]);

/** Maps any Doclo status name onto rungate's five; undefined for a name it does not know. */
export function normalizeStatus(status: unknown): RunStatus | undefined {
  return typeof status === 'string' ? STATUS_ALIASES.get(status.toLowerCase()) : undefined;
}

/** True for a run or flow id that follows contract section 2's rule. */
export { isValidId } from '@rungate/client/shared';
