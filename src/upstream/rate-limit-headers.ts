import type { RateBudgetSnapshot } from './upstream.js';

/** The three `X-RateLimit-*` numbers of one answer, reset converted to epoch ms. */
export interface RateLimitInfo {
  limit: number;
  remaining: number;
  resetAtMs: number;
}

/** Headers as fetch exposes them (only `get` is needed, so fakes stay small). */
export interface HeaderSource {
  get(name: string): string | null;
}

// The SDK bounds Reset to 0..2e9 (seconds) and Retry-After to 0..86400; values outside are noise.
const MAX_RESET_SECONDS = 2e9;
const MAX_RETRY_AFTER_SECONDS = 86_400;

function nonNegativeInteger(value: string | null): number | undefined {
  if (value === null || !/^\s*\d+\s*$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * Reads `X-RateLimit-Limit/Remaining/Reset`. Like the SDK, the set counts only when all three are
 * valid integers (Reset as Unix seconds within 0..2e9); otherwise undefined.
 */
export function parseRateLimitHeaders(headers: HeaderSource): RateLimitInfo | undefined {
  const limit = nonNegativeInteger(headers.get('x-ratelimit-limit'));
  const remaining = nonNegativeInteger(headers.get('x-ratelimit-remaining'));
  const reset = nonNegativeInteger(headers.get('x-ratelimit-reset'));
  if (limit === undefined || remaining === undefined || reset === undefined || reset > MAX_RESET_SECONDS) return undefined;
  return { limit, remaining, resetAtMs: reset * 1000 };
}

/**
 * `Retry-After` as milliseconds from `nowMs`: delta seconds (0..86400) or an HTTP-date (a date in
 * the past means 0). Undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) {
    const seconds = Number(text);
    return seconds <= MAX_RETRY_AFTER_SECONDS ? Math.round(seconds * 1000) : undefined;
  }
  // An HTTP-date always names its day and month; a bare number like "-5" would parse as a year.
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - nowMs), MAX_RETRY_AFTER_SECONDS * 1000);
}

/** A snapshot of one header set, for `Upstream.rateBudget()`. */
export function toSnapshot(info: RateLimitInfo): RateBudgetSnapshot {
  return { limit: info.limit, remaining: info.remaining, resetAtMs: info.resetAtMs };
}
