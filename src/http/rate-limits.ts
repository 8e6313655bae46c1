import type { Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { answers, sendError } from './error-answers.js';
import { principalOf } from './auth-middleware.js';

function limiter(perMinute: number, key: (req: Request, res: Response) => string): RequestHandler {
  if (perMinute === 0) return (_req, _res, next) => next();
  return rateLimit({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: key,
    handler: (_req, res) => sendError(res, answers.clientRateLimited()),
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
