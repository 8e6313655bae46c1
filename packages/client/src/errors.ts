// Error classes shaped like Doclo's SDK (`DocloError` with `code`, `statusCode`, `details`), so code
// written against Doclo's client catches the same classes here.

import { isPlainObject } from './is-plain-object.js';

/** Base of every error the client throws. */
export class DocloError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly statusCode?: number,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'DocloError';
  }

  /** A plain object for logs and JSON output. */
  toJSON(): { name: string; code: string; message: string; statusCode?: number; details?: Record<string, unknown> } {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      ...(this.statusCode === undefined ? {} : { statusCode: this.statusCode }),
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}

/** 401, or `unauthorized` on the socket: the token is missing, bad or expired. */
export class AuthenticationError extends DocloError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, 401, details);
    this.name = 'AuthenticationError';
  }
}

/** 403, or `forbidden` on the socket: the token may not see this run. */
export class AuthorizationError extends DocloError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, 403, details);
    this.name = 'AuthorizationError';
  }
}

/** 404, or `not_found` on the socket: neither the gateway nor Doclo knows the run. */
export class NotFoundError extends DocloError {
  constructor(code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, 404, details);
    this.name = 'NotFoundError';
  }
}

/** 400 or 422, or `bad_request` on the socket. */
export class ValidationError extends DocloError {
  constructor(code: string, message: string, statusCode = 400, details?: Record<string, unknown>) {
    super(code, message, statusCode, details);
    this.name = 'ValidationError';
  }
}

/** Doclo's rate-limit headers, when all three were present. */
export interface RateLimitInfo {
  limit: number;
  remaining: number;
  /** Unix seconds when the window resets. */
  reset: number;
  retryAfter?: number;
}

/** 429, or `limit_exceeded` on the socket. */
export class RateLimitError extends DocloError {
  constructor(
    code: string,
    message: string,
    /** How long to wait before trying again, when the gateway said. */
    readonly retryAfterMs?: number,
    readonly rateLimitInfo?: RateLimitInfo,
    details?: Record<string, unknown>,
  ) {
    super(code, message, 429, details);
    this.name = 'RateLimitError';
  }
}

/**
 * The gateway could not be reached (connection refused, DNS, reset…): the message names its URL
 * and the reason, `cause` is the error behind it. `waitForCompletion` rejects with one, instead of
 * TimeoutError, when its time ran out while the gateway could not be reached.
 */
export class NetworkError extends DocloError {
  constructor(message: string, override readonly cause?: unknown) {
    super('NETWORK_ERROR', message);
    this.name = 'NetworkError';
  }
}

/**
 * A wait or request ran out of time. For `waitForCompletion` the run goes on and the wait can be
 * called again.
 */
export class TimeoutError extends DocloError {
  constructor(message: string) {
    super('TIMEOUT', message, 408);
    this.name = 'TimeoutError';
  }
}

/** The client was closed while the operation was pending. */
export class ClientClosedError extends DocloError {
  constructor() {
    super('CLIENT_CLOSED', 'the rungate client was closed');
    this.name = 'ClientClosedError';
  }
}

function intHeader(headers: Headers, name: string): number | undefined {
  const text = headers.get(name);
  if (text === null || !/^\d+$/.test(text.trim())) return undefined;
  return Number(text.trim());
}

/** Retry-After as ms: seconds or an HTTP date. */
function retryAfterMs(headers: Headers): number | undefined {
  const text = headers.get('retry-after');
  if (text === null) return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/**
 * Builds the typed error for a non-2xx answer from the gateway's envelope
 * `{"error":{"code","message","details?"}}`, classified by HTTP status first (codes vary).
 */
export function errorFromResponse(status: number, statusText: string, headers: Headers, body: unknown): DocloError {
  const envelope = isPlainObject(body) && isPlainObject(body.error) ? body.error : undefined;
  const code = envelope && typeof envelope.code === 'string' ? envelope.code : 'UNKNOWN_ERROR';
  const message = envelope && typeof envelope.message === 'string' ? envelope.message : `HTTP ${status}: ${statusText}`;
  const details = envelope && isPlainObject(envelope.details) ? envelope.details : undefined;
  switch (status) {
    case 400:
    case 422:
      return new ValidationError(code, message, status, details);
    case 401:
      return new AuthenticationError(code, message, details);
    case 403:
      return new AuthorizationError(code, message, details);
    case 404:
      return new NotFoundError(code, message, details);
    case 429: {
      const limit = intHeader(headers, 'x-ratelimit-limit');
      const remaining = intHeader(headers, 'x-ratelimit-remaining');
      const reset = intHeader(headers, 'x-ratelimit-reset');
      const after = retryAfterMs(headers);
      const info: RateLimitInfo | undefined =
        limit !== undefined && remaining !== undefined && reset !== undefined
          ? { limit, remaining, reset, ...(after === undefined ? {} : { retryAfter: Math.ceil(after / 1000) }) }
          : undefined;
      return new RateLimitError(code, message, after, info, details);
    }
    default:
      return new DocloError(code, message, status, details);
  }
}

/** The socket's error frame codes as typed errors. */
export function errorFromFrame(code: string, message: string): DocloError {
  switch (code) {
    case 'not_found':
      return new NotFoundError('EXECUTION_NOT_FOUND', message);
    case 'unauthorized':
      return new AuthenticationError('UNAUTHORIZED', message);
    case 'forbidden':
      return new AuthorizationError('FORBIDDEN', message);
    case 'limit_exceeded':
      return new RateLimitError('LIMIT_EXCEEDED', message);
    case 'bad_request':
      return new ValidationError('BAD_REQUEST', message);
    default:
      return new DocloError(code.toUpperCase(), message);
  }
}

/** Errors after which asking again cannot help: unknown run, refused token or permission, bad input. */
export function isPermanentError(error: unknown): error is DocloError {
  return error instanceof NotFoundError || error instanceof AuthenticationError || error instanceof AuthorizationError || error instanceof ValidationError;
}
