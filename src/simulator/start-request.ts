import { createHash } from 'node:crypto';
import { isHttpUrl } from '../config/option-parser.js';
import { RungateError } from '../errors.js';
import { readDocument, type DocumentFacts } from './document.js';
import { isPlainObject } from '@rungate/client/shared';

/** The longest `wait:true` hold Doclo allows (ms), and its default. */
export const MAX_WAIT_MS = 60_000;
export const DEFAULT_WAIT_MS = 30_000;

/** A validated `POST /flows/:flowId/run` body. */
export interface StartRequest {
  document: DocumentFacts;
  version: string;
  metadata?: Record<string, unknown>;
  idempotencyKey?: string;
  webhookUrl?: string;
  webhookSecret?: string;
  /** Set when `wait:true`: how long to hold the answer (already capped at MAX_WAIT_MS). */
  waitMs?: number;
  /** Identifies the request's content for idempotency: same key + different fingerprint = 409. */
  fingerprint: string;
}

const missing = (field: string): RungateError =>
  new RungateError('MISSING_REQUIRED_FIELD', { message: `Missing required field: ${field}`, details: { field, reason: 'Required' } });

const invalid = (field: string, reason: string): RungateError =>
  new RungateError('VALIDATION_ERROR', { message: `Invalid value for ${field}: ${reason}`, details: { field, reason } });

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalid(key, 'Must be a string');
  return value;
}

/** JSON with object keys sorted, so the fingerprint ignores key order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isPlainObject(value)) {
    return `{${Object.keys(value)
      .sort()
      .filter((key) => value[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * Parses and validates the raw body. Throws RungateError: 400 INVALID_INPUT for non-JSON or a
 * non-object body, 422 MISSING_REQUIRED_FIELD / VALIDATION_ERROR / INVALID_DOCUMENT with
 * `details {field, reason}` otherwise.
 */
export function parseStartRequest(flowId: string, raw: Buffer): StartRequest {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new RungateError('INVALID_INPUT', { message: 'Request body is not valid JSON' });
  }
  if (!isPlainObject(body)) throw new RungateError('INVALID_INPUT', { message: 'Request body must be a JSON object' });

  const input = body.input;
  if (input === undefined || input === null) throw missing('input');
  if (!isPlainObject(input)) throw invalid('input', 'Must be an object');
  const doc = input.document;
  if (doc === undefined || doc === null) throw missing('input.document');
  if (!isPlainObject(doc)) throw invalid('input.document', 'Must be an object');
  if (doc.base64 === undefined || doc.base64 === null) throw missing('input.document.base64');
  if (typeof doc.base64 !== 'string') throw invalid('input.document.base64', 'Must be a string');
  if (doc.mimeType !== undefined && doc.mimeType !== null && typeof doc.mimeType !== 'string') {
    throw invalid('input.document.mimeType', 'Must be a string');
  }
  if (doc.filename !== undefined && doc.filename !== null && typeof doc.filename !== 'string') {
    throw invalid('input.document.filename', 'Must be a string');
  }
  if (input.variables !== undefined && input.variables !== null && !isPlainObject(input.variables)) {
    throw invalid('input.variables', 'Must be an object');
  }

  const version = optionalString(body, 'version');
  const idempotencyKey = optionalString(body, 'idempotencyKey');
  if (idempotencyKey !== undefined && (idempotencyKey.length === 0 || idempotencyKey.length > 255)) {
    throw invalid('idempotencyKey', 'Must be 1 to 255 characters');
  }
  const webhookUrl = optionalString(body, 'webhookUrl');
  if (webhookUrl !== undefined && isHttpUrl(webhookUrl) !== undefined) throw invalid('webhookUrl', 'Must be an http(s) URL');
  const webhookSecret = optionalString(body, 'webhookSecret');
  if (webhookSecret !== undefined && webhookSecret.length === 0) throw invalid('webhookSecret', 'Must not be empty');
  const metadata = body.metadata;
  if (metadata !== undefined && metadata !== null && !isPlainObject(metadata)) throw invalid('metadata', 'Must be an object');
  if (body.wait !== undefined && body.wait !== null && typeof body.wait !== 'boolean') throw invalid('wait', 'Must be a boolean');
  const timeout = body.timeout;
  if (timeout !== undefined && timeout !== null && (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout < 0)) {
    throw invalid('timeout', 'Must be a non-negative number of milliseconds');
  }

  const document = readDocument(doc.base64, doc.mimeType ?? undefined, doc.filename ?? undefined);

  // `wait` and `timeout` shape this answer, not the run, so a retry that adds wait:true is
  // still "the same request" for idempotency.
  const { wait: _wait, timeout: _timeout, ...content } = body;
  const fingerprint = createHash('sha256').update(flowId).update('\0').update(canonicalJson(content)).digest('hex');

  return {
    document,
    version: version ?? '1.0.0',
    fingerprint,
    ...(isPlainObject(metadata) ? { metadata } : {}),
    ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
    ...(webhookUrl === undefined ? {} : { webhookUrl }),
    ...(webhookSecret === undefined ? {} : { webhookSecret }),
    ...(body.wait === true ? { waitMs: Math.min(typeof timeout === 'number' ? timeout : DEFAULT_WAIT_MS, MAX_WAIT_MS) } : {}),
  };
}
