import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { RunWriter } from '../tracking/run-writer.js';
import { readBody } from '../util/read-body.js';
import { BodyTooLargeError, RungateError, WebhookPayloadError, WebhookSignatureError } from '../errors.js';
import { verifySignature } from './signature-verifier.js';
import { parseWebhookPayload } from './webhook-payload.js';
import { isValidId } from '../runs/run.js';

export interface WebhookRouteOptions {
  bodyLimitBytes: number;
  /** Reject events whose signed `timestamp` is older than this; 0 = no limit. */
  toleranceSeconds: number;
  /** The secrets any one of which may have signed a webhook (read per request: rotation). */
  secrets: () => readonly string[];
  /** The per-run secret the gateway sent with a run's start, if it sends them. */
  runSecret?: (runId: string) => Promise<string | undefined>;
  writer: RunWriter;
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
   * The configured secrets first; failing those, the run's own secret. Reading the run id means
   * parsing bytes not yet verified: only the id is used, and only to pick a key.
   */
  async function verify(raw: Buffer, header: string | undefined): Promise<void> {
    try {
      verifySignature(raw, header, options.secrets());
      return;
    } catch (error) {
      if (!(error instanceof WebhookSignatureError) || !options.runSecret || (error.reason !== 'mismatch' && error.reason !== 'no_secret')) throw error;
      const runId = runIdOf(raw);
      const secret = runId === undefined ? undefined : await options.runSecret(runId);
      if (secret === undefined) throw error;
      verifySignature(raw, header, [secret]);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const arrivedAt = process.hrtime.bigint();
    let raw: Buffer;
    try {
      raw = await readBody(req, options.bodyLimitBytes);
    } catch (error) {
      if (error instanceof BodyTooLargeError) return reject(res, 'too_large', error);
      throw error;
    }
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
    metrics.webhooks.inc({ result: duplicate ? 'duplicate' : 'accepted' });
    // The memory bus delivers inside apply, so the frames are written by now.
    if (!duplicate) metrics.pushLatency.observe(Number(process.hrtime.bigint() - arrivedAt) / 1e9);
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

/** `data.id` of a body, if it is JSON with one; anything else is undefined. */
function runIdOf(raw: Buffer): string | undefined {
  try {
    const body = JSON.parse(raw.toString('utf8')) as { data?: { id?: unknown } } | null;
    const id = body?.data?.id;
    return isValidId(id) ? id : undefined;
  } catch {
    return undefined;
  }
}
