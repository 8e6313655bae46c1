import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import type { RunWriter } from '../runs/run-writer.js';
import { ApiError, errors, sendError } from '../http/api-error.js';
import { BodyTooLargeError, readBody } from '../http/read-body.js';
import { WebhookSignatureError, verifySignature } from './signature-verifier.js';
import { WebhookPayloadError, parseWebhookPayload } from './webhook-payload.js';

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

/**
 * `POST /webhooks/doclo`: verify the signature over the raw bytes, parse, and hand the state to
 * the write path; answer 200 only once it is stored. A duplicate is also 200 — Doclo must not
 * retry what the gateway already has.
 */
export function createWebhookHandler(options: WebhookRouteOptions) {
  const { metrics, logger, writer } = options;
  const now = options.now ?? Date.now;

  function reject(res: Response, result: string, error: ApiError): void {
    metrics.webhooks.inc({ result });
    sendError(res, error);
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

  return async (req: Request, res: Response): Promise<void> => {
    const arrivedAt = process.hrtime.bigint();
    let raw: Buffer;
    try {
      raw = await readBody(req, options.bodyLimitBytes);
    } catch (error) {
      if (error instanceof BodyTooLargeError) return reject(res, 'too_large', errors.payloadTooLarge(error.limitBytes));
      throw error;
    }
    try {
      await verify(raw, req.get('x-doclo-signature'));
    } catch (error) {
      if (!(error instanceof WebhookSignatureError)) throw error;
      logger.warn({ reason: error.reason, ip: req.ip }, 'webhook rejected: bad signature');
      return reject(res, 'unauthorized', new ApiError(401, error.code, error.message, { reason: error.reason }));
    }
    let event;
    try {
      event = parseWebhookPayload(raw);
    } catch (error) {
      if (!(error instanceof WebhookPayloadError)) throw error;
      return reject(res, 'malformed', new ApiError(400, error.code, error.message));
    }
    if (options.toleranceSeconds > 0 && event.timestamp !== undefined) {
      const ageSeconds = (now() - Date.parse(event.timestamp)) / 1000;
      if (ageSeconds > options.toleranceSeconds) {
        return reject(res, 'stale_timestamp', new ApiError(400, 'RUNGATE_ERR_WEBHOOK_STALE', `event is ${Math.round(ageSeconds)} s old; the limit is ${options.toleranceSeconds} s`));
      }
    }
    const result = await writer.apply(event.data, 'webhook');
    if (result.kind === 'invalid') return reject(res, 'malformed', new ApiError(400, 'RUNGATE_ERR_WEBHOOK_PAYLOAD', result.reason));
    const duplicate = result.kind !== 'changed';
    metrics.webhooks.inc({ result: duplicate ? 'duplicate' : 'accepted' });
    // The memory bus delivers inside apply, so the frames are written by now.
    if (!duplicate) metrics.pushLatency.observe(Number(process.hrtime.bigint() - arrivedAt) / 1e9);
    res.status(200).json({ received: true, duplicate });
  };
}

/** `data.id` of a body, if it is JSON with one; anything else is undefined. */
function runIdOf(raw: Buffer): string | undefined {
  try {
    const body = JSON.parse(raw.toString('utf8')) as { data?: { id?: unknown } } | null;
    const id = body?.data?.id;
    return typeof id === 'string' && id.length > 0 && id.length <= 256 ? id : undefined;
  } catch {
    return undefined;
  }
}
