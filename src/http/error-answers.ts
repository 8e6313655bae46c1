import type { Response } from 'express';
import { RungateError } from '../errors.js';
import { UpstreamError } from '../upstream/upstream-error.js';
import { isPlainObject, isValidId } from '@rungate/client/shared';

/** The gateway's HTTP answers that need arguments, built from the catalogue (src/errors.ts). */
export const answers = {
  invalidInput: (message: string, details?: Record<string, unknown>) => new RungateError('INVALID_INPUT', { message, ...(details ? { details } : {}) }),
  validation: (message: string, details?: Record<string, unknown>) => new RungateError('VALIDATION_ERROR', { message, ...(details ? { details } : {}) }),
  missingField: (field: string, reason: string) => new RungateError('MISSING_REQUIRED_FIELD', { message: `${field} is required`, details: { field, reason } }),
  // The id is named only when it follows the id rule: a refused one may carry anything.
  runNotFound: (id: string) => new RungateError('EXECUTION_NOT_FOUND', { message: isValidId(id) ? `Execution ${id} not found` : 'Execution not found' }),
  flowNotFound: (flowId: string) => new RungateError('FLOW_NOT_FOUND', { message: isValidId(flowId) ? `Flow not found: ${flowId}` : 'Flow not found' }),
  routeNotFound: (method: string, path: string) => new RungateError('NOT_FOUND', { message: `No route for ${method} ${path}` }),
  payloadTooLarge: (limitBytes: number) => new RungateError('PAYLOAD_TOO_LARGE', { message: `Body is larger than ${limitBytes} bytes` }),
  lookupLimit: () =>
    new RungateError('RATE_LIMITED', { message: 'Too many lookups of runs the gateway does not know; try again later', headers: { 'Retry-After': '1' } }),
  forbidden: () => new RungateError('FORBIDDEN'),
  unauthorized: (message: string) => new RungateError('UNAUTHORIZED', { message }),
  clientRateLimited: (retryAfterSeconds: number, window: { limit: number; remaining: number; resetSeconds: number }) =>
    new RungateError('RATE_LIMITED', {
      headers: {
        'Retry-After': String(retryAfterSeconds),
        'X-RateLimit-Limit': String(window.limit),
        'X-RateLimit-Remaining': String(window.remaining),
        'X-RateLimit-Reset': String(window.resetSeconds),
      },
    }),
  unavailable: (message: string) => new RungateError('UPSTREAM_UNAVAILABLE', { message, headers: { 'Retry-After': '1' } }),
  internal: () => new RungateError('INTERNAL_ERROR'),
};

/**
 * Turns an upstream failure into the answer a Doclo client expects: Doclo's own 4xx answers pass
 * through with their status and envelope; outages become 503 (or 504 for a timeout), retryable.
 */
export function fromUpstreamError(error: UpstreamError): RungateError {
  const details = isPlainObject(error.details) ? error.details : undefined;
  switch (error.kind) {
    case 'network':
    case 'server':
      return answers.unavailable(`Doclo could not be reached: ${error.message}`);
    case 'timeout':
      return new RungateError('UPSTREAM_TIMEOUT', { headers: { 'Retry-After': '1' } });
    case 'bad_response':
      return new RungateError('UPSTREAM_BAD_RESPONSE');
    case 'rate_limited':
      return upstreamRateLimited(error, details);
    default:
      return RungateError.passThrough(error.status, error.code, error.message, details);
  }
}

/**
 * Doclo's 429 as the caller gets it at once (contract section 2): `RATE_LIMITED` with
 * `Retry-After` and Doclo's three `X-RateLimit-*` headers, so its SDK fills `rateLimitInfo`.
 */
function upstreamRateLimited(error: UpstreamError, details: Record<string, unknown> | undefined): RungateError {
  const seconds = Math.max(1, Math.ceil((error.retryAfterMs ?? 1000) / 1000));
  const headers: Record<string, string> = { 'Retry-After': String(seconds) };
  if (error.rateLimit) {
    headers['X-RateLimit-Limit'] = String(error.rateLimit.limit);
    headers['X-RateLimit-Remaining'] = String(error.rateLimit.remaining);
    headers['X-RateLimit-Reset'] = String(Math.ceil(error.rateLimit.resetAtMs / 1000));
  }
  return new RungateError('RATE_LIMITED', { message: error.message, headers, ...(details ? { details } : {}) });
}

/** Writes an error as Doclo's envelope. */
export function sendError(res: Response, error: RungateError): void {
  if (error.headers) res.set(error.headers);
  res.status(error.status).json(error.toEnvelope());
}

/** Any thrown value as an answerable error; unknown ones become a 500 without internals. */
export function toAnswer(error: unknown): RungateError {
  if (error instanceof UpstreamError) return fromUpstreamError(error);
  if (error instanceof RungateError && error.answerable) return error;
  return answers.internal();
}
