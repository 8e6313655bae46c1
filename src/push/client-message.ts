import type { WsErrorCode } from '../errors.js';
import { ID_PATTERN } from '../runs/run.js';
import { isPlainObject } from '@rungate/client/shared';

/** A client frame the gateway understood. */
export type ClientMessage =
  | { op: 'subscribe' | 'unsubscribe'; target: SubscriptionTarget; since: number | undefined }
  | { op: 'auth'; token: string };

export type SubscriptionTarget = { kind: 'runs'; runIds: string[] } | { kind: 'flow'; flowId: string };

/** A frame that is not a valid client message; answered with `bad_request`. */
export class ProtocolError extends Error {
  /** The WebSocket error code it is answered with (src/errors.ts). */
  readonly code: WsErrorCode = 'bad_request';

  constructor(
    message: string,
    readonly runId?: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}



function checkRunId(value: unknown): string {
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
    throw new ProtocolError('runId must be a run id (letters, digits, _ . : -; at most 256)', typeof value === 'string' ? value.slice(0, 256) : undefined);
  }
  return value;
}

/**
 * Parses one text frame: `{"op":"subscribe"|"unsubscribe", runId | runIds | flowId, since?}` or
 * `{"op":"auth","token"}`. Exactly one target key; `since` a non-negative integer.
 */
export function parseClientMessage(text: string, maxRunIds: number): ClientMessage {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    throw new ProtocolError('frame is not valid JSON');
  }
  if (!isPlainObject(message)) throw new ProtocolError('frame must be a JSON object');
  const { op } = message;
  if (op === 'auth') {
    if (typeof message.token !== 'string' || message.token.length === 0 || message.token.length > 8192) {
      throw new ProtocolError('auth needs a token string');
    }
    return { op, token: message.token };
  }
  if (op !== 'subscribe' && op !== 'unsubscribe') throw new ProtocolError('op must be subscribe, unsubscribe or auth');

  const keys = (['runId', 'runIds', 'flowId'] as const).filter((key) => message[key] !== undefined);
  if (keys.length !== 1) throw new ProtocolError('give exactly one of runId, runIds, flowId');
  const since = message.since;
  if (since !== undefined && (typeof since !== 'number' || !Number.isSafeInteger(since) || since < 0)) {
    throw new ProtocolError('since must be a non-negative integer');
  }
  let target: SubscriptionTarget;
  if (message.runId !== undefined) {
    target = { kind: 'runs', runIds: [checkRunId(message.runId)] };
  } else if (message.runIds !== undefined) {
    const ids = message.runIds;
    if (!Array.isArray(ids) || ids.length === 0) throw new ProtocolError('runIds must be a non-empty array');
    if (ids.length > maxRunIds) throw new ProtocolError(`runIds may hold at most ${maxRunIds} ids`);
    target = { kind: 'runs', runIds: [...new Set(ids.map(checkRunId))] };
  } else {
    const flowId = message.flowId;
    if (typeof flowId !== 'string' || (flowId !== '*' && !ID_PATTERN.test(flowId))) throw new ProtocolError('flowId must be a flow id or "*"');
    target = { kind: 'flow', flowId };
  }
  return { op, target, since: since };
}
