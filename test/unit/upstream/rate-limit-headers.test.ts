import { describe, expect, it } from 'vitest';
import { parseRateLimitHeaders, parseRetryAfter } from '../../../src/upstream/index.js';

const NOW = Date.UTC(2026, 0, 1, 0, 0, 0);

describe('parseRetryAfter', () => {
  it('reads delta seconds', () => {
    expect(parseRetryAfter('7', NOW)).toBe(7000);
    expect(parseRetryAfter(' 0 ', NOW)).toBe(0);
    expect(parseRetryAfter('1.5', NOW)).toBe(1500);
  });

  it('reads an HTTP-date relative to now, a past date meaning 0', () => {
    expect(parseRetryAfter(new Date(NOW + 10_000).toUTCString(), NOW)).toBe(10_000);
    expect(parseRetryAfter(new Date(NOW - 10_000).toUTCString(), NOW)).toBe(0);
  });

  it('ignores absent, malformed and out-of-range values', () => {
    expect(parseRetryAfter(null, NOW)).toBeUndefined();
    expect(parseRetryAfter('soon', NOW)).toBeUndefined();
    expect(parseRetryAfter('-5', NOW)).toBeUndefined();
    expect(parseRetryAfter('86401', NOW)).toBeUndefined();
  });
});

describe('parseRateLimitHeaders', () => {
  const headers = (h: Record<string, string>): Headers => new Headers(h);

  it('reads the three headers, Reset as Unix seconds', () => {
    expect(parseRateLimitHeaders(headers({ 'X-RateLimit-Limit': '60', 'X-RateLimit-Remaining': '59', 'X-RateLimit-Reset': '1767225660' })))
      .toEqual({ limit: 60, remaining: 59, resetAtMs: 1_767_225_660_000 });
  });

  it('ignores the set when one header is missing or malformed', () => {
    expect(parseRateLimitHeaders(headers({ 'X-RateLimit-Limit': '60', 'X-RateLimit-Remaining': '59' }))).toBeUndefined();
    expect(parseRateLimitHeaders(headers({ 'X-RateLimit-Limit': '60', 'X-RateLimit-Remaining': 'lots', 'X-RateLimit-Reset': '1767225660' }))).toBeUndefined();
    expect(parseRateLimitHeaders(headers({ 'X-RateLimit-Limit': '-1', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': '1767225660' }))).toBeUndefined();
    expect(parseRateLimitHeaders(headers({ 'X-RateLimit-Limit': '60', 'X-RateLimit-Remaining': '1.5', 'X-RateLimit-Reset': '1767225660' }))).toBeUndefined();
  });

  it('bounds Reset to 0..2e9 seconds like the SDK (a millisecond stamp is rejected)', () => {
    expect(parseRateLimitHeaders(headers({ 'X-RateLimit-Limit': '60', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': '1767225660000' }))).toBeUndefined();
    expect(parseRateLimitHeaders(headers({ 'X-RateLimit-Limit': '60', 'X-RateLimit-Remaining': '0', 'X-RateLimit-Reset': '2000000000' }))?.resetAtMs).toBe(2e12);
  });
});
