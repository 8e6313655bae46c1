import type { Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, rateLimit, type RateLimitInfo } from 'express-rate-limit';
import { answers, sendError } from './error-answers.js';
import { principalOf } from './auth-middleware.js';

const WINDOW_MS = 60_000;

/**
 * The 429 of one of the gateway's own limits, as Doclo answers one: `RATE_LIMITED` with
 * `Retry-After` and `X-RateLimit-Limit/Remaining/Reset` (Unix seconds), which Doclo's SDK reads
 * into its `rateLimitInfo` (it ignores the set unless all three are integers).
 */
function refuse(req: Request, res: Response): void {
  const info = (req as Request & { rateLimit?: RateLimitInfo }).rateLimit;
  const nowMs = Date.now();
  const resetAtMs = info?.resetTime?.getTime() ?? nowMs + WINDOW_MS;
  const retryAfterSeconds = Math.max(1, Math.ceil((resetAtMs - nowMs) / 1000));
  sendError(res, answers.clientRateLimited(retryAfterSeconds, {
    limit: info?.limit ?? 0,
    remaining: info?.remaining ?? 0,
    resetSeconds: Math.ceil(resetAtMs / 1000),
  }));
}

function limiter(perMinute: number, key: (req: Request, res: Response) => string): RequestHandler {
  if (perMinute === 0) return (_req, _res, next) => next();
  return rateLimit({
    windowMs: WINDOW_MS,
    limit: perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: key,
    handler: refuse,
  });
}

/** REST requests per minute from one IP (before auth: it also slows token guessing). */
export function perIpLimit(perMinute: number): RequestHandler {
  return limiter(perMinute, (req) => ipKeyGenerator(req.ip ?? 'unknown'));
}

/** REST requests per minute per authenticated owner (after auth). */
export function perOwnerLimit(perMinute: number): RequestHandler {
  return limiter(perMinute, (req, res) => principalOf(res)?.sub ?? ipKeyGenerator(req.ip ?? 'unknown'));
}
