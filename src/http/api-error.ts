import type { Response } from 'express';
import { UpstreamError } from '../upstream/upstream-error.js';
import { isPlainObject } from '@rungate/client/shared';

/** An error answered in Doclo's envelope: `{"error":{"code","message","details?"}}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The gateway's own error catalogue (Doclo's codes where Doclo has one). */
export const errors = {
  invalidInput: (message: string, details?: Record<string, unknown>) => new ApiError(400, 'INVALID_INPUT', message, details),
  validation: (message: string, details?: Record<string, unknown>) => new ApiError(422, 'VALIDATION_ERROR', message, details),
  runNotFound: (id: string) => new ApiError(404, 'EXECUTION_NOT_FOUND', `Execution ${id} not found`),
  routeNotFound: (method: string, path: string) => new ApiError(404, 'NOT_FOUND', `No route for ${method} ${path}`),
  payloadTooLarge: (limitBytes: number) => new ApiError(413, 'PAYLOAD_TOO_LARGE', `Body is larger than ${limitBytes} bytes`),
  lookupLimit: () =>
    new ApiError(429, 'RATE_LIMITED', 'Too many lookups of runs the gateway does not know; try again later', undefined, { 'Retry-After': '1' }),
  forbidden: () => new ApiError(403, 'FORBIDDEN', 'This token may not access this run'),
  clientRateLimited: () => new ApiError(429, 'RATE_LIMITED', 'Too many requests; slow down', undefined, { 'Retry-After': '60' }),
  unavailable: (message: string) => new ApiError(503, 'UPSTREAM_UNAVAILABLE', message, undefined, { 'Retry-After': '1' }),
  internal: () => new ApiError(500, 'INTERNAL_ERROR', 'Internal error'),
};

/**
 * Turns an upstream failure into the answer a Doclo client expects: Doclo's own 4xx answers pass
 * through with their status and envelope; outages become 503 (or 504 for a timeout), retryable.
 */
export function fromUpstreamError(error: UpstreamError): ApiError {
  switch (error.kind) {
    case 'network':
    case 'server':
      return errors.unavailable(`Doclo could not be reached: ${error.message}`);
    case 'timeout':
      return new ApiError(504, 'UPSTREAM_TIMEOUT', 'Doclo did not answer in time', undefined, { 'Retry-After': '1' });
    case 'bad_response':
      return new ApiError(502, 'UPSTREAM_BAD_RESPONSE', 'Doclo answered with something that is not a run');
    case 'rate_limited': {
      const seconds = Math.max(1, Math.ceil((error.retryAfterMs ?? 1000) / 1000));
      return new ApiError(429, error.code, error.message, (isPlainObject(error.details) ? error.details : undefined), { 'Retry-After': String(seconds) });
    }
    default:
      return new ApiError(error.status, error.code, error.message, (isPlainObject(error.details) ? error.details : undefined));
  }
}

/** Writes an ApiError as Doclo's envelope. */
export function sendError(res: Response, error: ApiError): void {
  if (error.headers) res.set(error.headers);
  res.status(error.status).json(errorEnvelope(error));
}

/** Doclo's envelope for an ApiError: `{"error":{"code","message","details?"}}`. */
export function errorEnvelope(error: ApiError): { error: { code: string; message: string; details?: Record<string, unknown> } } {
  return { error: { code: error.code, message: error.message, ...(error.details === undefined ? {} : { details: error.details }) } };
}

/** Any thrown value as an ApiError; unknown errors become a 500 without internals. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof UpstreamError) return fromUpstreamError(error);
  return errors.internal();
}

