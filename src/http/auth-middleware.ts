import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Authenticator } from '../auth/authenticator.js';
import { AuthError } from '../errors.js';
import type { Principal } from '../auth/principal.js';
import { answers } from './error-answers.js';

/** The caller as the auth middleware left it; undefined when auth is off. */
export function principalOf(res: Response): Principal | undefined {
  return res.locals.principal as Principal | undefined;
}

/**
 * Requires `Authorization: Bearer <token>` when auth is on: 401 UNAUTHORIZED (Doclo's code)
 * with `WWW-Authenticate` otherwise. With auth off it does nothing.
 */
export function requireAuth(authenticator: Authenticator): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!authenticator.enabled) return next();
    authenticator.fromHeader(req.get('authorization')).then(
      (principal) => {
        res.locals.principal = principal;
        next();
      },
      (error: unknown) => {
        if (!(error instanceof AuthError)) return next(error);
        res.set('WWW-Authenticate', `Bearer error="${error.reason === 'missing' ? 'invalid_request' : 'invalid_token'}"`);
        next(answers.unauthorized(error.reason === 'missing' ? 'Missing authorization header' : `Invalid token: ${error.message}`));
      },
    );
  };
}
