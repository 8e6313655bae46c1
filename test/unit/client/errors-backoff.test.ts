import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../../packages/client/src/backoff.js';
import {
  AuthenticationError,
  AuthorizationError,
  DocloError,
  NotFoundError,
  RateLimitError,
  ValidationError,
  errorFromFrame,
  errorFromResponse,
} from '../../../packages/client/src/errors.js';

const envelope = (code: string, message = 'm', details?: Record<string, unknown>) => ({ error: { code, message, ...(details ? { details } : {}) } });

describe('errorFromResponse', () => {
  it('classifies by HTTP status and keeps code, message and details', () => {
    const cases: Array<[number, new (...args: never[]) => DocloError]> = [
      [400, ValidationError],
      [422, ValidationError],
      [401, AuthenticationError],
      [403, AuthorizationError],
      [404, NotFoundError],
      [429, RateLimitError],
    ];
    for (const [status, kind] of cases) {
      const error = errorFromResponse(status, 'x', new Headers(), envelope('SOME_CODE', 'text', { field: 'a' }));
      expect(error).toBeInstanceOf(kind);
      expect(error).toBeInstanceOf(DocloError);
      expect(error).toMatchObject({ code: 'SOME_CODE', message: 'text', statusCode: status, details: { field: 'a' } });
    }
    const conflict = errorFromResponse(409, 'Conflict', new Headers(), envelope('ALREADY_CANCELLED'));
    expect(conflict.constructor).toBe(DocloError);
    expect(conflict).toMatchObject({ code: 'ALREADY_CANCELLED', statusCode: 409 });
  });

  it('reads Retry-After and the X-RateLimit-* headers on 429', () => {
    const headers = new Headers({ 'retry-after': '3', 'x-ratelimit-limit': '60', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1700000000' });
    const error = errorFromResponse(429, 'Too Many Requests', headers, envelope('RATE_LIMITED')) as RateLimitError;
    expect(error.retryAfterMs).toBe(3000);
    expect(error.rateLimitInfo).toEqual({ limit: 60, remaining: 0, reset: 1700000000, retryAfter: 3 });
  });

  it('gives UNKNOWN_ERROR and the status line for a body that is not the envelope', () => {
    const error = errorFromResponse(502, 'Bad Gateway', new Headers(), undefined);
    expect(error).toMatchObject({ code: 'UNKNOWN_ERROR', message: 'HTTP 502: Bad Gateway', statusCode: 502 });
  });
});

describe('errorFromFrame', () => {
  it('maps the socket error codes onto the same classes', () => {
    expect(errorFromFrame('not_found', 'x')).toBeInstanceOf(NotFoundError);
    expect(errorFromFrame('unauthorized', 'x')).toBeInstanceOf(AuthenticationError);
    expect(errorFromFrame('forbidden', 'x')).toBeInstanceOf(AuthorizationError);
    expect(errorFromFrame('limit_exceeded', 'x')).toBeInstanceOf(RateLimitError);
    expect(errorFromFrame('bad_request', 'x')).toBeInstanceOf(ValidationError);
  });
});

describe('backoffDelay', () => {
  it('grows exponentially up to the cap, with full jitter from zero', () => {
    const opts = { initialDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelay(0, opts, () => 0)).toBe(0);
    expect(backoffDelay(0, opts, () => 0.999999)).toBe(99);
    expect(backoffDelay(3, opts, () => 0.999999)).toBe(799);
    expect(backoffDelay(10, opts, () => 0.999999)).toBe(999);
    expect(backoffDelay(1000, opts, () => 0.5)).toBe(500);
  });
});
