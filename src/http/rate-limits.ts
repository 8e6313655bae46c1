import type { Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, rateLimit, type IncrementResponse, type Options, type Store } from 'express-rate-limit';
import type { LimitStore } from '../limits/limit-store.js';
import { answers, sendError } from './error-answers.js';
import { principalOf } from './auth-middleware.js';

/**
 * express-rate-limit's Store over a LimitStore, so the counts are the cluster's, not one
 * instance's, when the LimitStore is shared. One per limiter (express-rate-limit refuses a store
 * used by two), each under its own key prefix.
 */
class LimitStoreAdapter implements Store {
  readonly localKeys: boolean;
  private windowMs = 60_000;

  constructor(
    private readonly limits: LimitStore,
    readonly prefix: string,
  ) {
    this.localKeys = !limits.shared;
  }

  init(options: Options): void {
    this.windowMs = options.windowMs;
  }

  async increment(key: string): Promise<IncrementResponse> {
    const { hits, resetAtMs } = await this.limits.hit(this.prefix + key, this.windowMs);
    return { totalHits: hits, resetTime: new Date(resetAtMs) };
  }

  decrement(key: string): Promise<void> {
    return this.limits.unhit(this.prefix + key);
  }

  resetKey(key: string): Promise<void> {
    return this.limits.reset(this.prefix + key);
  }
}

function limiter(perMinute: number, limits: LimitStore, prefix: string, key: (req: Request, res: Response) => string): RequestHandler {
  if (perMinute === 0) return (_req, _res, next) => next();
  return rateLimit({
    windowMs: 60_000,
    limit: perMinute,
    standardHeaders: 'draft-7',
    // X-RateLimit-Limit, -Remaining and -Reset (Unix seconds), as Doclo answers them.
    legacyHeaders: true,
    keyGenerator: key,
    store: new LimitStoreAdapter(limits, prefix),
    // A flood guard whose shared store is down lets requests through; the routes themselves then
    // answer as the store allows.
    passOnStoreError: true,
    handler: (_req, res) => sendError(res, answers.clientRateLimited()),
  });
}

/** REST requests per minute from one IP (before auth: it also slows token guessing). */
export function perIpLimit(perMinute: number, limits: LimitStore): RequestHandler {
  return limiter(perMinute, limits, 'rest-ip:', (req) => ipKeyGenerator(req.ip ?? 'unknown'));
}

/** REST requests per minute per authenticated owner (after auth). */
export function perOwnerLimit(perMinute: number, limits: LimitStore): RequestHandler {
  return limiter(perMinute, limits, 'rest-owner:', (req, res) => principalOf(res)?.sub ?? ipKeyGenerator(req.ip ?? 'unknown'));
}
