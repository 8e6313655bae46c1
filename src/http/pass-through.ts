import { Transform, pipeline, type TransformCallback } from 'node:stream';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { RungateError } from '../errors.js';
import { isValidId } from '../runs/run.js';
import { responseHeadersToReturn } from '../upstream/forward-headers.js';
import type { Upstream } from '../upstream/upstream.js';
import { answers } from './error-answers.js';
import { principalOf } from './auth-middleware.js';
import { callerGone } from './caller-gone.js';

export interface PassThroughDeps {
  upstream: Pick<Upstream, 'forward'>;
  /** `--proxy-writes`: methods other than GET and HEAD are passed on too. */
  proxyWrites: boolean;
  /** Largest request body passed on (counted as it streams). */
  requestBodyLimitBytes: number;
  logger: Logger;
}

/**
 * Paths below `/api/v1` that the gateway answers itself: never passed on, whatever the method.
 * Runs are owner-scoped (section 5) and Doclo would show anyone's through the gateway's key.
 */
export function isGatewayPath(path: string): boolean {
  const [first, second, third, ...rest] = path.split('?')[0]!.split('/').slice(1);
  if (first === 'runs' || first === 'events' || first === 'stats') return true;
  return first === 'flows' && second !== undefined && third === 'run' && rest.every((segment) => segment === '');
}

/** The path's segments decoded, or undefined when one is malformed or steps out (`.`, `..`, `/`). */
function safeSegments(path: string): string[] | undefined {
  const segments: string[] = [];
  for (const raw of path.split('/').slice(1)) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    if (segment === '.' || segment === '..' || /[/\\]/.test(segment)) return undefined;
    segments.push(segment);
  }
  return segments;
}

/** Counts a streamed body and fails it once it passes the limit. */
function byteLimit(limitBytes: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
      seen += chunk.length;
      if (seen > limitBytes) done(answers.payloadTooLarge(limitBytes));
      else done(null, chunk);
    },
  });
}

/**
 * The rest of Doclo's API (contract section 2): a `GET /api/v1/…` the gateway does not answer
 * itself goes to Doclo with the gateway's API key, and Doclo's status, headers (`X-RateLimit-*`
 * among them) and body come back as they are, streamed both ways. Other methods only with
 * `--proxy-writes`, and with auth on only for admins (they act on the whole Doclo account);
 * otherwise they fall through to 404 NOT_FOUND. The caller's credentials and cookies never reach
 * Doclo. A flow id outside the id rule is 404 FLOW_NOT_FOUND without asking Doclo.
 */
export function createPassThrough(deps: PassThroughDeps): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const reading = req.method === 'GET' || req.method === 'HEAD';
    if (!reading && !deps.proxyWrites) return next();
    const path = req.path;
    if (isGatewayPath(path)) return next();
    const segments = safeSegments(path);
    if (!segments) return next(answers.routeNotFound(req.method, path));
    if (segments[0] === 'flows' && segments[1] !== undefined && !isValidId(segments[1])) return next(answers.flowNotFound(segments[1]));
    const principal = principalOf(res);
    if (!reading && principal && !principal.admin) return next(answers.forbidden());

    const signal = callerGone(res);
    const body = reading ? undefined : req.pipe(byteLimit(deps.requestBodyLimitBytes));
    let tooLarge: RungateError | undefined;
    body?.on('error', (error) => {
      if (error instanceof RungateError) tooLarge = error;
      // The rest of an oversized body is read and thrown away: the 413 is answered, not a reset.
      req.resume();
    });
    deps.upstream.forward({ method: req.method, pathAndQuery: req.url, headers: req.headers, ...(body ? { body } : {}), signal }).then(
      (answer) => {
        res.status(answer.status);
        // Doclo's headers replace any the gateway set so far (its own rate-limit headers included).
        for (const [name, value] of Object.entries(responseHeadersToReturn(answer.headers))) if (value !== undefined) res.setHeader(name, value);
        pipeline(answer.body, res, (error) => {
          if (error && !signal.aborted) deps.logger.warn({ err: error, method: req.method, path }, 'a passed-through answer broke off');
        });
      },
      (error: unknown) => next(tooLarge ?? error),
    );
    return undefined;
  };
}
