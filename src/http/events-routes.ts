import type { IncomingMessage } from 'node:http';
import { Router, type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Authenticator } from '../auth/authenticator.js';
import type { Principal } from '../auth/principal.js';
import { AuthError, RungateError } from '../errors.js';
import type { SseHub } from '../push/sse-hub.js';
import { isValidId } from '../runs/run.js';
import { answers } from './error-answers.js';

export interface EventsRouteDeps {
  events: Pick<SseHub, 'openRun' | 'openFlow'>;
  authenticator: Pick<Authenticator, 'enabled' | 'fromHeader' | 'verify'>;
  /** The browser-origin rule for streams (section 5); a page elsewhere gets 403. */
  originAllowed: (req: IncomingMessage) => boolean;
  /** The per-owner REST limit, applied once the caller is known. */
  perOwnerLimit: RequestHandler;
}

/** The `seq` a consumer already has: `Last-Event-ID` (what EventSource resends) or `?since=N`. */
function sinceOf(req: Request): number | undefined {
  const header = req.get('last-event-id');
  const query = req.query.since;
  const text = header ?? (query === undefined ? undefined : query);
  if (text === undefined || text === '') return undefined;
  if (typeof text !== 'string' || !/^\d{1,15}$/.test(text.trim())) {
    throw answers.invalidInput('Last-Event-ID and since must be a non-negative integer (a seq)', { field: header !== undefined ? 'Last-Event-ID' : 'since' });
  }
  return Number(text.trim());
}

/**
 * Auth as for REST, plus `?access_token=` since EventSource cannot set headers (the request
 * logger redacts it). With auth off it lets everyone through.
 */
function authenticate(authenticator: EventsRouteDeps['authenticator']): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!authenticator.enabled) return next();
    const header = req.get('authorization');
    const queryToken = req.query.access_token;
    let verifying: Promise<Principal>;
    if (header !== undefined) verifying = authenticator.fromHeader(header);
    else if (typeof queryToken === 'string' && queryToken !== '') verifying = authenticator.verify(queryToken);
    else verifying = Promise.reject(new AuthError('missing'));
    verifying.then(
      (principal) => {
        res.locals.principal = principal;
        next();
      },
      (error: unknown) => {
        if (!(error instanceof AuthError)) return next(error);
        res.set('WWW-Authenticate', `Bearer error="${error.reason === 'missing' ? 'invalid_request' : 'invalid_token'}"`);
        next(answers.unauthorized(error.reason === 'missing' ? 'Missing authorization header or access_token' : `Invalid token: ${error.message}`));
      },
    );
  };
}

/** Server-Sent Events routes (contract section 9): a run's stream and a flow's stream. */
export function createEventsRouter(deps: EventsRouteDeps): Router {
  const router = Router();
  const guard: RequestHandler = (req, _res, next) => next(deps.originAllowed(req) ? undefined : answers.forbidden());
  const principalOf = (res: Response) => res.locals.principal as Principal | undefined;

  router.get('/runs/:id/events', guard, authenticate(deps.authenticator), deps.perOwnerLimit, async (req, res) => {
    const id = String(req.params.id);
    if (!isValidId(id)) throw answers.runNotFound(id);
    const since = sinceOf(req);
    const refusal = await deps.events.openRun(res, principalOf(res), id, since);
    if (refusal === 'no_content') res.status(204).end();
  });

  router.get('/events', guard, authenticate(deps.authenticator), deps.perOwnerLimit, (req, res) => {
    const flowId = req.query.flowId;
    if (typeof flowId !== 'string' || flowId === '') throw answers.invalidInput('flowId is required once (a flow id, or * for every flow)', { field: 'flowId' });
    if (flowId !== '*' && !isValidId(flowId)) throw answers.flowNotFound(flowId);
    const principal = principalOf(res);
    if (flowId === '*' && principal && !principal.admin) throw new RungateError('FORBIDDEN', { message: 'only admins may follow every flow' });
    deps.events.openFlow(res, principal, flowId);
  });

  return router;
}
