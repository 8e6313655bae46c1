import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { BodyReadError } from '../errors.js';
import type { ByteBudget } from '../util/byte-budget.js';
import { nestsDeeperThan } from '../util/json-depth.js';
import { readHeldBody } from '../util/read-body.js';
import { closeAfterAnswer } from '../util/close-after-answer.js';
import { answers } from './error-answers.js';

export interface JsonBodyOptions {
  limitBytes: number;
  budget: ByteBudget;
  idleTimeoutMs: number;
  totalTimeoutMs: number;
  /** Which requests carry a JSON body for the gateway itself (others stream on untouched). */
  applies: (req: Request) => boolean;
}

/** Deepest JSON a request body may nest: deeper would overflow JSON.stringify when it is passed on. */
export const MAX_JSON_DEPTH = 64;

/**
 * The REST routes' JSON bodies: read with the decoded-size limit, the shared budget and the
 * timeouts of readHeldBody, parsed, and refused with a 400 when nested deeper than Doclo input
 * plausibly is. The body's share of the budget is held until the answer is sent.
 */
export function jsonBody(options: JsonBodyOptions): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method === 'GET' || req.method === 'HEAD' || !options.applies(req)) return next();
    readHeldBody(req, { limitBytes: options.limitBytes, decode: true, budget: options.budget, idleTimeoutMs: options.idleTimeoutMs, totalTimeoutMs: options.totalTimeoutMs }).then(
      (held) => {
        const body = held.body;
        res.once('close', () => held.release());
        if (body.length === 0) {
          req.body = {};
          return next();
        }
        let parsed: unknown;
        try {
          parsed = JSON.parse(body.toString('utf8'));
        } catch {
          return next(answers.invalidInput('Request body is not valid JSON'));
        }
        if (nestsDeeperThan(parsed, MAX_JSON_DEPTH)) return next(answers.invalidInput(`Request body nests deeper than ${MAX_JSON_DEPTH} levels`));
        req.body = parsed;
        next();
      },
      (error: unknown) => {
        // A sender too slow to finish is not waited for: the answer goes out and the connection closes.
        if (error instanceof BodyReadError && (error.code === 'REQUEST_TIMEOUT' || error.code === 'BODY_BUDGET_EXHAUSTED')) closeAfterAnswer(res);
        // Refused for want of room (503) is load, not a fault: logged as the client errors are.
        if (error instanceof BodyReadError) res.locals.clientFault = true;
        next(error);
      },
    );
    return undefined;
  };
}
