import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { RungateError, BodyTooLargeError } from '../errors.js';
import { readBody } from '../util/read-body.js';
import { sendJson } from './http-io.js';
import type { RateDecision, RateLimiter, RateLimitState } from './rate-limiter.js';
import type { Rng } from './rng.js';
import type { RunEngine } from './run-engine.js';
import { toExecution } from './run-view.js';
import type { SimCounters, SimStats } from './sim-stats.js';
import type { StatusVocabulary } from './sim-run.js';
import { parseStartRequest } from './start-request.js';
import { getFlow, listFlows } from './flow-catalog.js';

/** Everything the request handler reads or changes. */
export interface RouteDeps {
  engine: RunEngine;
  counters: SimCounters;
  limiter: RateLimiter;
  /** Starts are neither counted by nor refused by the limiter (their answers show its numbers). */
  rateLimitExemptStarts?: boolean;
  /** Draws the `errorRate` 503s. */
  faultRng: Rng;
  errorRate: number;
  apiKey: string | undefined;
  vocabulary: StatusVocabulary;
  bodyLimitBytes: number;
  stats: () => SimStats;
  logger: Logger;
}

type Route =
  | { kind: 'run'; flowId: string }
  | { kind: 'flows' }
  | { kind: 'flow'; flowId: string }
  | { kind: 'get'; id: string }
  | { kind: 'cancel'; id: string }
  | { kind: 'wrong-method'; allow: string }
  | { kind: 'unknown' };

const RUN_PATH = /^\/api\/v1\/flows\/([^/]+)\/run$/;
const GET_PATH = /^\/api\/v1\/runs\/([^/]+)$/;
const CANCEL_PATH = /^\/api\/v1\/runs\/([^/]+)\/cancel$/;
const FLOWS_PATH = /^\/api\/v1\/flows()$/;
const FLOW_PATH = /^\/api\/v1\/flows\/([^/]+)$/;

function decode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function matchRoute(method: string, path: string): Route {
  const clean = path.length > 1 ? path.replace(/\/+$/, '') : path;
  const match = (re: RegExp, allow: string, make: (value: string) => Route): Route | undefined => {
    const m = re.exec(clean);
    if (!m || m[1] === undefined || (m[1] === '' && re !== FLOWS_PATH)) return undefined;
    const value = decode(m[1]);
    if (value === undefined) return { kind: 'unknown' };
    return method === allow ? make(value) : { kind: 'wrong-method', allow };
  };
  return (
    match(RUN_PATH, 'POST', (flowId) => ({ kind: 'run', flowId })) ??
    match(CANCEL_PATH, 'POST', (id) => ({ kind: 'cancel', id })) ??
    match(GET_PATH, 'GET', (id) => ({ kind: 'get', id })) ??
    match(FLOWS_PATH, 'GET', () => ({ kind: 'flows' })) ??
    match(FLOW_PATH, 'GET', (flowId) => ({ kind: 'flow', flowId })) ?? { kind: 'unknown' }
  );
}

function rateHeaders(state: RateLimitState): Record<string, string> {
  return {
    'x-ratelimit-limit': String(state.limit),
    'x-ratelimit-remaining': String(state.remaining),
    'x-ratelimit-reset': String(state.resetSeconds),
  };
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * The simulator's HTTP handler. Order of checks for API requests, chosen so that each fault is
 * observable on its own: (1) count the request in stats by route, (2) rate limit (429; a
 * refused request does not use budget; starts skip it when `rateLimitExemptStarts`), (3) injected 503 (it does use budget, as a real
 * overloaded server's would), (4) API key (401), (5) the route. `/_sim/stats` skips all of them.
 */
export function createRequestHandler(deps: RouteDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const expectedKey = deps.apiKey === undefined ? undefined : digest(deps.apiKey);

  const checkAuth = (req: IncomingMessage): void => {
    if (expectedKey === undefined) return;
    const header = req.headers.authorization;
    if (header === undefined || header.trim() === '') {
      throw new RungateError('UNAUTHORIZED', { message: 'Missing authorization header' });
    }
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    // Compare digests so the comparison is constant-time whatever the key's length.
    if (!match?.[1] || !timingSafeEqual(digest(match[1]), expectedKey)) {
      throw new RungateError('UNAUTHORIZED', { message: 'Invalid API key' });
    }
  };

  const serveRoute = async (route: Route, req: IncomingMessage, res: ServerResponse, headers: Record<string, string>): Promise<void> => {
    const send = (status: number, body: unknown): void => sendJson(res, status, body, headers);
    switch (route.kind) {
      case 'run': {
        let body: Buffer;
        try {
          body = await readBody(req, deps.bodyLimitBytes);
        } catch (error) {
          if (!(error instanceof BodyTooLargeError)) throw error;
          throw new RungateError('PAYLOAD_TOO_LARGE', { message: `Request body exceeds ${deps.bodyLimitBytes} bytes`, details: { limitBytes: deps.bodyLimitBytes } });
        }
        const request = parseStartRequest(route.flowId, body);
        const { run, created } = deps.engine.start(route.flowId, request);
        if (created) deps.logger.debug({ runId: run.id, flowId: run.flowId, bytes: run.document.bytes }, 'run created');
        if (request.waitMs === undefined) {
          send(200, toExecution(run, deps.vocabulary, Date.now()));
          return;
        }
        const outcome = await deps.engine.waitForEnd(run, request.waitMs);
        if (outcome === 'ended') send(200, toExecution(run, deps.vocabulary, Date.now()));
        else if (outcome === 'closed') throw new RungateError('SERVICE_UNAVAILABLE', { message: 'Simulator is shutting down' });
        else {
          throw new RungateError('EXECUTION_TIMEOUT', { message: `Execution did not complete within ${request.waitMs}ms`, details: {
            executionId: run.id,
            timeoutMs: request.waitMs,
          } });
        }
        return;
      }
      case 'get': {
        const run = deps.engine.get(route.id);
        if (!run) throw new RungateError('EXECUTION_NOT_FOUND', { message: `Execution not found: ${route.id}` });
        send(200, toExecution(run, deps.vocabulary, Date.now()));
        return;
      }
      case 'cancel': {
        const run = deps.engine.cancel(route.id);
        deps.logger.debug({ runId: run.id }, 'run cancelled');
        send(200, toExecution(run, deps.vocabulary, Date.now()));
        return;
      }
      case 'flows':
        send(200, listFlows(new URL(req.url ?? '/', 'http://sim').searchParams));
        return;
      case 'flow':
        send(200, getFlow(route.flowId, new URL(req.url ?? '/', 'http://sim').searchParams));
        return;
      case 'wrong-method':
        throw new RungateError('METHOD_NOT_ALLOWED', { message: `Method ${req.method ?? ''} not allowed here`, headers: { allow: route.allow } });
      case 'unknown':
        throw new RungateError('NOT_FOUND', { message: `No route for ${req.method ?? ''} ${new URL(req.url ?? '/', 'http://sim').pathname}` });
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const path = new URL(req.url ?? '/', 'http://sim').pathname;
    if (path === '/_sim/stats') {
      if (method !== 'GET') {
        const error = new RungateError('METHOD_NOT_ALLOWED', { message: `Method ${method} not allowed here` });
        sendJson(res, 405, error.toEnvelope(), { ...rateHeaders(deps.limiter.peek()), allow: 'GET' });
      } else {
        sendJson(res, 200, deps.stats(), rateHeaders(deps.limiter.peek()));
      }
      return;
    }
    const route = matchRoute(method, path);
    if (route.kind === 'run' || route.kind === 'get' || route.kind === 'cancel') deps.counters.requests[route.kind]++;
    const decision: RateDecision = route.kind === 'run' && deps.rateLimitExemptStarts === true ? { ...deps.limiter.peek(), allowed: true } : deps.limiter.take();
    const headers = rateHeaders(decision);
    try {
      if (!decision.allowed) {
        deps.counters.requests.rateLimited++;
        throw new RungateError('RATE_LIMITED', { message: 'Rate limit exceeded', details: { retryAfter: decision.retryAfterSeconds }, headers: {
          'retry-after': String(decision.retryAfterSeconds),
        } });
      }
      if (deps.faultRng.chance(deps.errorRate)) {
        deps.counters.requests.failed++;
        throw new RungateError('SERVICE_UNAVAILABLE', { message: 'Service temporarily unavailable (injected fault)' });
      }
      checkAuth(req);
      await serveRoute(route, req, res, headers);
    } catch (error) {
      if (error instanceof RungateError) {
        sendJson(res, error.status, error.toEnvelope(), { ...headers, ...error.headers });
        return;
      }
      deps.logger.error({ err: error, method, path }, 'simulator request failed');
      sendJson(res, 500, new RungateError('INTERNAL_ERROR', { message: 'Internal simulator error' }).toEnvelope(), headers);
    }
  };

  return (req, res) => {
    void handle(req, res);
  };
}
