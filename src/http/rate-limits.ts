import type { Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, rateLimit, type IncrementResponse, type Options, type RateLimitInfo, type Store } from 'express-rate-limit';
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

function limiter(perMinute: number, limits: LimitStore, prefix: string, key: (req: Request, res: Response) => string): RequestHandler {
  if (perMinute === 0) return (_req, _res, next) => next();
  return rateLimit({
    windowMs: WINDOW_MS,
    limit: perMinute,
    standardHeaders: 'draft-7',
    // X-RateLimit-Limit, -Remaining and -Reset (Unix seconds), as Doclo answers them.
    legacyHeaders: true,
    keyGenerator: key,
    store: new LimitStoreAdapter(limits, prefix),
    // A flood guard whose shared store is down lets requests through; the routes themselves then
    // answer as the store allows.
    passOnStoreError: true,
    handler: refuse,
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
