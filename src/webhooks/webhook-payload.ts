import type { RunNews } from '../runs/merge-run.js';
import { isValidId, normalizeStatus } from '../runs/run.js';
import { isPlainObject } from '@rungate/client/shared';
import { WebhookPayloadError } from '../errors.js';

export interface WebhookEvent {
  event: string;
  timestamp: string | undefined;
  data: RunNews & { flowId: string };
}

const EVENT_PATTERN = /^(execution|run)\.[a-z_]+$/;
const MAX_DEPTH = 64;

function depthOf(value: unknown, depth = 0): number {
  if (depth > MAX_DEPTH || value === null || typeof value !== 'object') return depth;
  let deepest = depth;
  // for…in over a parsed JSON value (own keys only; arrays by index): no array of values per object.
  const object = value as Record<string, unknown>;
  for (const key in object) {
    const inner = object[key];
    if (inner === null || typeof inner !== 'object') {
      if (deepest <= depth) deepest = depth + 1; // a leaf counts one level, as before
      continue;
    }
    deepest = Math.max(deepest, depthOf(inner, depth + 1));
    if (deepest > MAX_DEPTH) break;
  }
  return deepest;
}

/**
 * Parses a webhook body: `{event, timestamp, data}` with `event` from either family
 * (`execution.completed|failed`, `run.*`) and the state taken from `data.status`, not from the
 * event name. Throws WebhookPayloadError for anything else.
 */
export function parseWebhookPayload(rawBody: Buffer): WebhookEvent {
  let body: unknown;
  try {
    body = JSON.parse(rawBody.toString('utf8'));
  } catch {
    throw new WebhookPayloadError('body is not valid JSON');
  }
  if (!isPlainObject(body)) throw new WebhookPayloadError('body must be a JSON object');
  if (depthOf(body) > MAX_DEPTH) throw new WebhookPayloadError(`body nests deeper than ${MAX_DEPTH} levels`);
  const { event, timestamp, data } = body;
  if (typeof event !== 'string' || !EVENT_PATTERN.test(event)) throw new WebhookPayloadError('event must be execution.* or run.*');
  if (timestamp !== undefined && (typeof timestamp !== 'string' || Number.isNaN(Date.parse(timestamp)))) {
    throw new WebhookPayloadError('timestamp must be an ISO 8601 string');
  }
  if (!isPlainObject(data)) throw new WebhookPayloadError('data must be an object');
  // The id rule of contract section 2: a signed event is still outside data, and an id such as
  // `../x`, `*` or one with a line break would name no run the gateway could serve.
  if (!isValidId(data.id)) throw new WebhookPayloadError('data.id must be a run id (letters, digits and _ . : -, starting with a letter or digit, at most 256)');
  if (!isValidId(data.flowId)) throw new WebhookPayloadError('data.flowId must be a flow id (letters, digits and _ . : -, starting with a letter or digit, at most 256)');
  if (normalizeStatus(data.status) === undefined) throw new WebhookPayloadError('data.status is not a Doclo status');
  return { event, timestamp, data: data as WebhookEvent['data'] };
}
