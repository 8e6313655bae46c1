import type { NextFunction, Request, Response } from 'express';
import type { OriginPolicy } from '../auth/origin-policy.js';
import { RungateError } from '../errors.js';

/**
 * Refuses (403 ORIGIN_NOT_ALLOWED) every request other than GET and HEAD that a page of another
 * origin sends: a body-less POST is a "simple" request that a browser sends without asking first,
 * so CORS alone would let any page cancel runs. Pages of the gateway itself and of
 * `--allowed-origins` pass, and so does everything without an `Origin` (servers, CLIs).
 */
export function crossOriginWriteGuard(policy: OriginPolicy) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    if (req.method === 'GET' || req.method === 'HEAD' || policy.writeAllowed(req)) return next();
    next(new RungateError('ORIGIN_NOT_ALLOWED', { message: `A page of origin ${req.get('origin') ?? '(cross-site)'} may not send ${req.method} requests here; see --allowed-origins` }));
  };
}
