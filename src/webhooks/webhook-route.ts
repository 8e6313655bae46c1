import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { RunRecord } from '../runs/run-record.js';
import { isFinal, normalizeStatus } from '../runs/run.js';
import type { RunWriter } from '../tracking/run-writer.js';
import { readHeldBody, type HeldBody } from '../util/read-body.js';
import type { ByteBudget } from '../util/byte-budget.js';
import { closeAfterAnswer } from '../util/close-after-answer.js';
import { BodyReadError, BodyTooLargeError, RungateError, WebhookPayloadError, WebhookSignatureError } from '../errors.js';
import { verifySignature } from './signature-verifier.js';
import { parseWebhookPayload } from './webhook-payload.js';
import { isValidId } from '../runs/run.js';

export interface WebhookRouteOptions {
  /** Largest body, decoded. */
  bodyLimitBytes: number;
  /** The bytes of all webhook bodies being read or held at once (unverified ones included). */
  budget?: ByteBudget;
  /** Longest pause inside a body, and longest time for a whole body; 0 = none. */
  idleTimeoutMs?: number;
  totalTimeoutMs?: number;
  /** Reject events whose signed `timestamp` is older than this; 0 = no limit. */
  toleranceSeconds: number;
  /** The secrets any one of which may have signed a webhook (read per request: rotation). */
  secrets: () => readonly string[];
  /** The per-run secret the gateway sent with a run's start, if it sends them. */
  runSecret?: (runId: string) => Promise<string | undefined>;
  writer: RunWriter;
  /**
   * Called when a final webhook comes for a run whose final state a poll already found: the
   * webhook was late, not lost (the poll planner counts it so).
   */
  onLateWebhook?: (record: RunRecord) => void;
  metrics: GatewayMetrics;
  logger: Logger;
  now?: () => number;
}

/** The path Doclo posts to. */
export const WEBHOOK_PATH = '/webhooks/doclo';

/** Whether a request is a webhook delivery, for servers that route it before the express app. */
export function isWebhookRequest(req: IncomingMessage): boolean {
  return req.method === 'POST' && (req.url === WEBHOOK_PATH || (req.url?.startsWith(`${WEBHOOK_PATH}?`) ?? false));
}

const JSON_TYPE = 'application/json; charset=utf-8';
const ACCEPTED = Buffer.from('{"received":true,"duplicate":false}');
const DUPLICATE = Buffer.from('{"received":true,"duplicate":true}');

function answer(res: ServerResponse, status: number, body: Buffer | string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, 'content-type': JSON_TYPE, 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}

/** Doclo's error envelope, written straight to the response. */
function sendApiError(res: ServerResponse, error: RungateError): void {
  answer(res, error.status, JSON.stringify(error.toEnvelope()), error.headers);
}

/**
 * `POST /webhooks/doclo`: verify the signature over the raw bytes, parse, and hand the state to
 * the write path; answer 200 only once it is stored. A duplicate is also 200 — Doclo must not
 * retry what the gateway already has.
 *
 * It is the hottest route, so it needs only node:http's request and response: the gateway's
 * server hands it webhook requests before the express app, skipping routing, helmet's browser
 * headers and a per-request child logger (the receiver logs its own rejections and failures).
 * Express can still mount it (its req/res extend node's).
 */
export function createWebhookHandler(options: WebhookRouteOptions) {
  const { metrics, logger, writer } = options;
  const now = options.now ?? Date.now;

  function reject(res: ServerResponse, result: string, error: RungateError): void {
    metrics.webhooks.inc({ result });
    sendApiError(res, error);
  }

  /**
   * The configured secrets first; failing those, the run's own secret. Unverified bytes are never
   * parsed: the run's id is looked for only in the body's first bytes, and only a few candidates
   * are tried (see runIdCandidates), so a large forged body costs a bounded amount of work.
   */
  async function verify(raw: Buffer, header: string | undefined): Promise<void> {
    try {
      verifySignature(raw, header, options.secrets());
      return;
    } catch (error) {
      if (!(error instanceof WebhookSignatureError) || !options.runSecret || (error.reason !== 'mismatch' && error.reason !== 'no_secret')) throw error;
      const secrets: string[] = [];
      for (const runId of runIdCandidates(raw)) {
        const secret = await options.runSecret(runId);
        if (secret !== undefined) secrets.push(secret);
      }
      if (secrets.length === 0) throw error;
      verifySignature(raw, header, secrets);
    }
  }

  /** A body that could not be read, answered (or, when its sender left, only noted). */
  function refuseBody(req: IncomingMessage, res: ServerResponse, error: BodyTooLargeError | BodyReadError): void {
    if (error.code === 'RUNGATE_ERR_REQUEST_ABORTED') {
      metrics.webhooks.inc({ result: 'aborted' });
      logger.debug({ ip: req.socket.remoteAddress }, 'webhook sender left before its body arrived');
      return;
    }
    if (error.code === 'REQUEST_TIMEOUT' || error.code === 'BODY_BUDGET_EXHAUSTED') closeAfterAnswer(res);
    logger.warn({ code: error.code, ip: req.socket.remoteAddress }, 'webhook body refused');
    reject(res, BODY_RESULTS[error.code] ?? 'malformed', error);
  }

  const observePush = (arrivedAt: bigint): void => metrics.pushLatency.observe(Number(process.hrtime.bigint() - arrivedAt) / 1e9);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const arrivedAt = process.hrtime.bigint();
    let held: HeldBody;
    try {
      held = await readHeldBody(req, {
        limitBytes: options.bodyLimitBytes,
        decode: true,
        ...(options.budget ? { budget: options.budget } : {}),
        idleTimeoutMs: options.idleTimeoutMs ?? 0,
        totalTimeoutMs: options.totalTimeoutMs ?? 0,
      });
    } catch (error) {
      if (error instanceof BodyTooLargeError || error instanceof BodyReadError) return refuseBody(req, res, error);
      throw error;
    }
    try {
      await handleBody(req, res, held.body, arrivedAt);
    } finally {
      held.release();
    }
  }

  async function handleBody(req: IncomingMessage, res: ServerResponse, raw: Buffer, arrivedAt: bigint): Promise<void> {
    try {
      const header = req.headers['x-doclo-signature'];
      await verify(raw, Array.isArray(header) ? header[0] : header);
    } catch (error) {
      if (!(error instanceof WebhookSignatureError)) throw error;
      logger.warn({ reason: error.reason, ip: req.socket.remoteAddress }, 'webhook rejected: bad signature');
      return reject(res, 'unauthorized', error);
    }
    let event;
    try {
      event = parseWebhookPayload(raw);
    } catch (error) {
      if (!(error instanceof WebhookPayloadError)) throw error;
      // Signed, so it came from someone holding a secret: worth a warning, never an error.
      logger.warn({ reason: error.message }, 'webhook rejected: not a valid Doclo event');
      return reject(res, 'malformed', error);
    }
    if (options.toleranceSeconds > 0 && event.timestamp !== undefined) {
      const ageSeconds = (now() - Date.parse(event.timestamp)) / 1000;
      if (ageSeconds > options.toleranceSeconds) {
        return reject(res, 'stale_timestamp', new RungateError('RUNGATE_ERR_WEBHOOK_STALE', { message: `event is ${Math.round(ageSeconds)} s old; the limit is ${options.toleranceSeconds} s` }));
      }
    }
    const result = await writer.apply(event.data, 'webhook');
    if (result.kind === 'invalid') return reject(res, 'malformed', new WebhookPayloadError(result.reason));
    const duplicate = result.kind !== 'changed';
    if (duplicate && options.onLateWebhook && result.record.run.source === 'poll' && isFinal(result.record.run.status) && isFinal(normalizeStatus(event.data.status)!)) {
      options.onLateWebhook(result.record);
    }
    metrics.webhooks.inc({ result: duplicate ? 'duplicate' : 'accepted' });
    // The memory bus delivers inside apply, but a change after the first of an event-loop turn is
    // queued and written at the turn's end (WriteTurn's setImmediate, scheduled before this one):
    // observed after it, the latency covers the write of every frame of the change.
    if (!duplicate) setImmediate(observePush, arrivedAt);
    answer(res, 200, duplicate ? DUPLICATE : ACCEPTED);
  }

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      await handle(req, res);
    } catch (error) {
      // Not stored (the store failed, or the body could not be read): 500 so Doclo retries.
      logger.error({ err: error, method: req.method, url: req.url }, 'webhook failed');
      metrics.webhooks.inc({ result: 'error' });
      if (res.headersSent) res.end();
      else if (!res.destroyed) sendApiError(res, new RungateError('INTERNAL_ERROR'));
    }
  };
}

/** How far into an unverified body a run id is looked for, and how many candidates are tried. */
const ID_SCAN_BYTES = 4096;
const MAX_ID_CANDIDATES = 3;
const ID_FIELD = /"id"\s*:\s*"([A-Za-z0-9][A-Za-z0-9_.:-]{0,255})"/g;

/**
 * The values of the first few `"id": "…"` pairs in a body's first bytes: where `data.id` sits in
 * any event Doclo sends, without parsing (or even decoding) the rest of bytes nobody verified.
 */
export function runIdCandidates(raw: Buffer): string[] {
  const head = raw.subarray(0, ID_SCAN_BYTES).toString('latin1');
  const found = new Set<string>();
  for (const match of head.matchAll(ID_FIELD)) {
    if (isValidId(match[1])) found.add(match[1]);
    if (found.size >= MAX_ID_CANDIDATES) break;
  }
  return [...found];
}

/** The `rungate_webhooks_total` result of each body refusal. */
const BODY_RESULTS: Partial<Record<string, string>> = {
  PAYLOAD_TOO_LARGE: 'too_large',
  UNSUPPORTED_CONTENT_ENCODING: 'malformed',
  BODY_NOT_DECODABLE: 'malformed',
  REQUEST_TIMEOUT: 'timeout',
  BODY_BUDGET_EXHAUSTED: 'busy',
};
