import { createHash } from 'node:crypto';
import type { RunStatus } from './run.js';

/** Where one delivery stands (contract section 8). */
export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

/** The event a delivered webhook carries, by the run's final status. */
export type RelayEvent = 'execution.completed' | 'execution.failed' | 'execution.cancelled';

/** One instance's hold on a delivery while it attempts it; after `untilMs` another may take it. */
export interface DeliveryLease {
  owner: string;
  untilMs: number;
}

/**
 * The delivery of a run's final state to the caller's own webhookUrl: the outbox entry. It lives
 * inside the run's record, so it is written by the same compare-and-set (the same transaction,
 * script or write) as the final state that created it: a crash between the two loses neither.
 */
export interface Delivery {
  /** `webhook-id`: the same for every attempt, so receivers can de-duplicate. */
  id: string;
  /** The caller's URL, query string included (it is shown and logged without it). */
  url: string;
  event: RelayEvent;
  status: DeliveryStatus;
  attempts: number;
  /** When the delivery was created: the body's `timestamp`. */
  createdAtMs: number;
  /** Where its maximum age counts from: its creation, or the last manual retry. */
  queuedAtMs: number;
  /** Pending only: when the next attempt is due. */
  dueAtMs?: number;
  lease?: DeliveryLease;
  lastAttemptAtMs?: number;
  lastStatus?: number;
  lastError?: string;
  deliveredAtMs?: number;
}

/** The event for a final status; undefined for a status that is not final. */
export function relayEventOf(status: RunStatus): RelayEvent | undefined {
  switch (status) {
    case 'success':
      return 'execution.completed';
    case 'failed':
      return 'execution.failed';
    case 'cancelled':
      return 'execution.cancelled';
    default:
      return undefined;
  }
}

/**
 * The webhook-id of a run's delivery: derived from the run id, so whichever write (webhook, poll,
 * cancel, on whichever instance) creates the delivery, it gets the same id.
 */
export function deliveryIdOf(runId: string): string {
  return `msg_${createHash('sha256').update(runId).digest('base64url').slice(0, 24)}`;
}

/** A new pending delivery, due at once. */
export function newDelivery(runId: string, url: string, event: RelayEvent, nowMs: number): Delivery {
  return { id: deliveryIdOf(runId), url, event, status: 'pending', attempts: 0, createdAtMs: nowMs, queuedAtMs: nowMs, dueAtMs: nowMs };
}

/**
 * When a driver should next offer this delivery to the workers: its due time, or the end of the
 * lease holding it (so a dead instance's delivery comes due again); undefined when not pending.
 */
export function deliveryDueAtMs(delivery: Delivery | undefined): number | undefined {
  if (!delivery || delivery.status !== 'pending') return undefined;
  const due = delivery.dueAtMs ?? delivery.createdAtMs;
  return delivery.lease ? Math.max(due, delivery.lease.untilMs) : due;
}

/** The URL as it may be shown and logged: without its query string and fragment. */
export function withoutQuery(url: string): string {
  const cut = url.search(/[?#]/);
  return cut < 0 ? url : url.slice(0, cut);
}

/** A delivery as `GET /api/v1/runs/:id/deliveries` shows it. */
export interface DeliveryView {
  id: string;
  url: string;
  event: RelayEvent;
  status: DeliveryStatus;
  attempts: number;
  lastAttemptAt?: string;
  lastStatus?: number;
  lastError?: string;
  nextAttemptAt?: string;
  deliveredAt?: string;
}

/** The public view of a delivery (contract section 8). */
export function viewOf(delivery: Delivery): DeliveryView {
  const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
  const view: DeliveryView = {
    id: delivery.id,
    url: withoutQuery(delivery.url),
    event: delivery.event,
    status: delivery.status,
    attempts: delivery.attempts,
  };
  const lastAttemptAt = iso(delivery.lastAttemptAtMs);
  if (lastAttemptAt) view.lastAttemptAt = lastAttemptAt;
  if (delivery.lastStatus !== undefined) view.lastStatus = delivery.lastStatus;
  if (delivery.lastError !== undefined) view.lastError = delivery.lastError;
  const next = delivery.status === 'pending' ? iso(deliveryDueAtMs(delivery)) : undefined;
  if (next) view.nextAttemptAt = next;
  const deliveredAt = iso(delivery.deliveredAtMs);
  if (deliveredAt) view.deliveredAt = deliveredAt;
  return view;
}
