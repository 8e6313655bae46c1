import type { ErrorCode } from '../errors.js';
import { isPlainObject } from '@rungate/client/shared';
import type { RateLimitInfo } from './rate-limit-headers.js';

/** What went wrong with an upstream call, decided by HTTP status (Doclo's codes disagree). */
export type UpstreamErrorKind =
  | 'bad_request'
  | 'unauthorized'
  | 'payment_required'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'rate_limited'
  | 'server'
  | 'network'
  | 'timeout'
  | 'bad_response';

/** Codes rungate itself gives upstream failures that carry no Doclo code. */
export const UPSTREAM_ERROR_CODES = {
  /** A non-JSON or envelope-less error body (the SDK's name for it). */
  unknown: 'UNKNOWN_ERROR',
  network: 'RUNGATE_ERR_UPSTREAM_NETWORK',
  timeout: 'RUNGATE_ERR_UPSTREAM_TIMEOUT',
  badResponse: 'RUNGATE_ERR_UPSTREAM_BAD_RESPONSE',
  closed: 'RUNGATE_ERR_UPSTREAM_CLOSED',
  /** Doclo's own code for a 429 (API reference), used when the wait is decided locally. */
  rateLimited: 'RATE_LIMITED',
} as const satisfies Record<string, ErrorCode>;

const RETRYABLE_KINDS: ReadonlySet<UpstreamErrorKind> = new Set(['rate_limited', 'server', 'network', 'timeout']);

/** Maps an HTTP error status to its kind; other 4xx count as bad requests, non-4xx/5xx as bad responses. */
export function classifyStatus(status: number): UpstreamErrorKind {
  switch (status) {
    case 400:
    case 422:
      return 'bad_request';
    case 401:
      return 'unauthorized';
    case 402:
      return 'payment_required';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 409:
      return 'conflict';
    case 429:
      return 'rate_limited';
    default:
      if (status >= 500 && status <= 599) return 'server';
      if (status >= 400 && status <= 499) return 'bad_request';
      return 'bad_response';
  }
}

/** Whether a call that failed this way may be sent again (429, 5xx, network, timeout). */
export function isRetryableKind(kind: UpstreamErrorKind): boolean {
  return RETRYABLE_KINDS.has(kind);
}

/** Fields of an UpstreamError; `kind` defaults to the one of `status`. */
export interface UpstreamErrorInit {
  status: number;
  code: string;
  message: string;
  kind?: UpstreamErrorKind;
  /** Defaults to what the kind implies (429, 5xx, network, timeout). */
  retryable?: boolean;
  details?: unknown;
  retryAfterMs?: number;
  /** The `X-RateLimit-*` set of the answer (or, for a wait decided locally, the latest one seen). */
  rateLimit?: RateLimitInfo;
  cause?: unknown;
}

/** Doclo's error envelope, as the gateway passes it on to its own clients. */
export interface ErrorEnvelope {
  error: { code: string; message: string; details?: unknown };
}

/**
 * A failed upstream call. `status`, `code`, `message` and `details` are Doclo's, untouched, so the
 * gateway can pass the envelope through; `status` is 0 when no answer came (network, timeout,
 * closed). `retryAfterMs` is how long upstream asked us to wait, when it said so.
 */
export class UpstreamError extends Error {
  readonly status: number;
  readonly code: string;
  readonly kind: UpstreamErrorKind;
  readonly retryable: boolean;
  readonly details?: unknown;
  readonly retryAfterMs?: number;
  readonly rateLimit?: RateLimitInfo;

  constructor(init: UpstreamErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'UpstreamError';
    this.status = init.status;
    this.code = init.code;
    this.kind = init.kind ?? classifyStatus(init.status);
    this.retryable = init.retryable ?? isRetryableKind(this.kind);
    if (init.details !== undefined) this.details = init.details;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
    if (init.rateLimit !== undefined) this.rateLimit = init.rateLimit;
  }

  /** `{"error":{code,message,details?}}` exactly as Doclo sent it. */
  toEnvelope(): ErrorEnvelope {
    return { error: { code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) } };
  }
}

/**
 * Builds the error for a non-2xx answer from its raw body: Doclo's envelope when the body has one,
 * else `UNKNOWN_ERROR` / `HTTP <status>` (what the SDK does with a body it cannot read).
 */
export function errorFromResponse(status: number, bodyText: string, retryAfterMs?: number, rateLimit?: RateLimitInfo): UpstreamError {
  let envelope: unknown;
  try {
    envelope = JSON.parse(bodyText) as unknown;
  } catch {
    envelope = undefined;
  }
  const error = isPlainObject(envelope) && isPlainObject(envelope.error) ? envelope.error : undefined;
  const code = typeof error?.code === 'string' && error.code !== '' ? error.code : UPSTREAM_ERROR_CODES.unknown;
  const message = typeof error?.message === 'string' && error.message !== '' ? error.message : `HTTP ${status}`;
  return new UpstreamError({ status, code, message, details: error?.details, retryAfterMs, ...(rateLimit ? { rateLimit } : {}) });
}
