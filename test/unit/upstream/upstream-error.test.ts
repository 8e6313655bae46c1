import { describe, expect, it } from 'vitest';
import { UpstreamError, classifyStatus, errorFromResponse, type UpstreamErrorKind } from '../../../src/upstream/index.js';

describe('classifyStatus', () => {
  const table: Array<[number, UpstreamErrorKind, boolean]> = [
    [400, 'bad_request', false],
    [422, 'bad_request', false],
    [401, 'unauthorized', false],
    [402, 'payment_required', false],
    [403, 'forbidden', false],
    [404, 'not_found', false],
    [409, 'conflict', false],
    [429, 'rate_limited', true],
    [500, 'server', true],
    [502, 'server', true],
    [503, 'server', true],
    [504, 'server', true],
    [418, 'bad_request', false],
    [302, 'bad_response', false],
  ];
  it.each(table)('%i is %s (retryable: %s)', (status, kind, retryable) => {
    expect(classifyStatus(status)).toBe(kind);
    expect(new UpstreamError({ status, code: 'X', message: 'm' }).retryable).toBe(retryable);
  });
});

describe('errorFromResponse', () => {
  it("keeps Doclo's envelope untouched, whatever the code says", () => {
    const details = { field: 'input.document.base64', reason: 'Invalid base64 encoding' };
    const body = JSON.stringify({ error: { code: 'INVALID_API_KEY', message: 'Key revoked', details } });
    const err = errorFromResponse(401, body);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({ status: 401, kind: 'unauthorized', code: 'INVALID_API_KEY', message: 'Key revoked', details, retryable: false });
    expect(err.toEnvelope()).toEqual({ error: { code: 'INVALID_API_KEY', message: 'Key revoked', details } });
    expect(errorFromResponse(429, JSON.stringify({ error: { code: 'RATE_LIMITED', message: 'slow down' } })).toEnvelope())
      .toEqual({ error: { code: 'RATE_LIMITED', message: 'slow down' } });
  });

  it('answers UNKNOWN_ERROR / "HTTP <status>" for non-JSON and envelope-less bodies', () => {
    for (const text of ['<html>Bad Gateway</html>', '', '{"message":"nope"}', '{"error":"Invalid signature"}', '[1]']) {
      const err = errorFromResponse(502, text);
      expect(err).toMatchObject({ status: 502, kind: 'server', code: 'UNKNOWN_ERROR', message: 'HTTP 502' });
      expect(err.details).toBeUndefined();
    }
  });

  it('fills only what the envelope lacks', () => {
    expect(errorFromResponse(404, '{"error":{"code":"EXECUTION_NOT_FOUND"}}')).toMatchObject({ code: 'EXECUTION_NOT_FOUND', message: 'HTTP 404' });
    expect(errorFromResponse(404, '{"error":{"message":"gone"}}')).toMatchObject({ code: 'UNKNOWN_ERROR', message: 'gone' });
  });

  it('carries a retry hint', () => {
    const err = errorFromResponse(429, '{}', 3000);
    expect(err).toMatchObject({ name: 'UpstreamError', retryAfterMs: 3000, status: 429, kind: 'rate_limited' });
  });
});
