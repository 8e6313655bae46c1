import { createHmac } from 'node:crypto';
import type { RunRecord } from '../runs/run-record.js';
import type { Delivery } from '../runs/delivery.js';

/**
 * The body of a delivery: Doclo's webhook shape. It is built from the final state (which never
 * changes) and the delivery's creation time, so every attempt sends the same bytes.
 */
export function relayBody(record: RunRecord, delivery: Delivery): string {
  return JSON.stringify({ event: delivery.event, timestamp: new Date(delivery.createdAtMs).toISOString(), data: record.run });
}

/**
 * The headers of one attempt: `X-Doclo-Signature` as Doclo signs (so receivers verify these
 * unchanged), `webhook-id` for de-duplication, `webhook-timestamp` of this attempt.
 */
export function relayHeaders(body: string, delivery: Delivery, secret: string | undefined, nowMs: number, userAgent: string): Record<string, string> {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'webhook-id': delivery.id,
    'webhook-timestamp': String(Math.floor(nowMs / 1000)),
    'user-agent': userAgent,
  };
  if (secret !== undefined) headers['x-doclo-signature'] = `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  return headers;
}
