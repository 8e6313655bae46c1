import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { pino, type Logger } from 'pino';
import { abortReason, fullJitterDelay, sleep } from '@rungate/client/shared';
import { isValidId, type Execution } from '../runs/run.js';
import { ConcurrencyLimiter } from './concurrency-limiter.js';
import { parseExecution } from './execution-parser.js';
import { forwardRequest } from './forward.js';
import { fetchExchange, headerReader, httpExchange, isExchangeTimeout, type ExchangeAnswer } from './http-exchange.js';
import { linkSignal } from './linked-signal.js';
import { parseRateLimitHeaders, parseRetryAfter } from './rate-limit-headers.js';
import { RateBudget } from './rate-budget.js';
import { UPSTREAM_ERROR_CODES, UpstreamError, errorFromResponse } from './upstream-error.js';
import type { CallOptions, RateBudgetSnapshot, StartRunBody, Upstream } from './upstream.js';

/** The three Doclo calls, and passed-through requests (`proxy`), as metrics and logs name them. */
export type UpstreamRoute = 'start' | 'get' | 'cancel' | 'proxy';

/** One HTTP attempt as metrics see it: the answer's status, or how it failed without one. */
export interface UpstreamRequestInfo {
  route: UpstreamRoute;
  status: number | 'network' | 'timeout';
  durationMs: number;
}

/** Settings of createUpstream; validated once, at construction. */
export interface UpstreamOptions {
  /** Doclo's API base, e.g. `https://app.doclo.ai/api/v1`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <key>` when set. */
  apiKey?: string;
  /** Sent as `User-Agent` when set (fetch sent `node`; firewalls in front of an API may want one). */
  userAgent?: string;
  /** Per-attempt timeout (default 15000). */
  timeoutMs?: number;
  /** Attempts in flight at once across all calls (default 16). */
  concurrency?: number;
  /** Attempts after the first (default 4). */
  retries?: number;
  /** Backoff base (default 250). */
  baseDelayMs?: number;
  /** Backoff ceiling (default 30000). */
  maxDelayMs?: number;
  /**
   * The longest single wait (a retry delay, a Retry-After, a spent rate window) worth sleeping
   * through; a longer one surfaces the error instead (default 65000: a 60 s window plus the
   * rounding of Unix-second resets).
   */
  maxWaitMs?: number;
  /** Share of each rate window that `low` priority calls leave to `high` ones (default 0.1). */
  lowPriorityReserveRatio?: number;
  logger?: Logger;
  fetch?: typeof fetch;
  now?: () => number;
  /** Source of jitter in [0, 1) (default Math.random). */
  random?: () => number;
  /** Makes idempotency keys for starts that came without one (default crypto.randomUUID). */
  newIdempotencyKey?: () => string;
  /** Called after every HTTP attempt, for metrics. */
  onRequest?: (info: UpstreamRequestInfo) => void;
}

interface CallPlan {
  route: UpstreamRoute;
  method: 'GET' | 'POST';
  path: string;
  body?: string;
  /** Fills a start answer's flowId if upstream leaves it out. */
  flowId?: string;
  /** The run asked about: an answer about another run is a bad response, never stored. */
  runId?: string;
}

/** An id outside contract section 2's rule: refused before any request (404, as Doclo would). */
function notFoundLocally(what: 'Execution' | 'Flow'): UpstreamError {
  return new UpstreamError({ status: 404, code: what === 'Flow' ? 'FLOW_NOT_FOUND' : 'EXECUTION_NOT_FOUND', message: `${what} not found`, retryable: false });
}

/**
 * A 2xx answer's run, if it is about the run asked (lookups and cancels) and its ids follow the
 * id rule; otherwise a bad response: nothing of it is stored or shown.
 */
function checkedExecution(execution: Execution, httpStatus: number, plan: CallPlan): Execution {
  const bad = (message: string) => new UpstreamError({ status: httpStatus, code: UPSTREAM_ERROR_CODES.badResponse, message, kind: 'bad_response' });
  if (plan.runId !== undefined && execution.id !== plan.runId) throw bad(`Upstream answered about another run than ${plan.runId}`);
  if (!isValidId(execution.id)) throw bad('Upstream execution has an id outside the id rule');
  if (!isValidId(execution.flowId)) throw bad(`Upstream execution ${execution.id} has a flowId outside the id rule`);
  return execution;
}

function positiveInt(name: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) throw new RangeError(`upstream option ${name} must be an integer ≥ ${min}, got ${value}`);
  return value;
}

/**
 * An Upstream over Doclo's REST API (see upstream.ts for the contract). Each attempt waits for the
 * shared rate budget, then for a concurrency slot, then sends with its own timeout; 429, 5xx,
 * network errors and timeouts are retried with full-jitter backoff, stretched to any Retry-After
 * or X-RateLimit-Reset upstream gave.
 */
export function createUpstream(options: UpstreamOptions): Upstream {
  let baseUrl: string;
  try {
    baseUrl = new URL(options.baseUrl).toString().replace(/\/+$/, '');
  } catch {
    throw new TypeError(`upstream baseUrl is not a URL: ${options.baseUrl}`);
  }
  const timeoutMs = positiveInt('timeoutMs', options.timeoutMs ?? 15_000, 1);
  const retries = positiveInt('retries', options.retries ?? 4, 0);
  const backoff = {
    baseDelayMs: positiveInt('baseDelayMs', options.baseDelayMs ?? 250, 0),
    maxDelayMs: positiveInt('maxDelayMs', options.maxDelayMs ?? 30_000, 0),
  };
  const maxWaitMs = positiveInt('maxWaitMs', options.maxWaitMs ?? 65_000, 0);
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const newKey = options.newIdempotencyKey ?? randomUUID;
  const exchange = options.fetch ? fetchExchange(options.fetch) : httpExchange;
  const log = (options.logger ?? pino({ level: 'silent' })).child({ component: 'upstream' });
  const limiter = new ConcurrencyLimiter(positiveInt('concurrency', options.concurrency ?? 16, 1));
  const budget = new RateBudget({
    now, maxWaitMs, ...(options.lowPriorityReserveRatio === undefined ? {} : { lowPriorityReserveRatio: options.lowPriorityReserveRatio }),
  });
  const lifecycle = new AbortController();
  // Every call waiting for a slot, a rate window or a retry listens to it until it goes on: as
  // many listeners as calls queued, each removed when its wait ends — not a leak to warn about.
  setMaxListeners(0, lifecycle.signal);
  const closedError = new UpstreamError({
    status: 0, code: UPSTREAM_ERROR_CODES.closed, message: 'Upstream client is closed', kind: 'network', retryable: false,
  });

  const headers: Record<string, string> = { Accept: 'application/json' };
  if (options.apiKey !== undefined && options.apiKey !== '') headers.Authorization = `Bearer ${options.apiKey}`;
  if (options.userAgent) headers['User-Agent'] = options.userAgent;
  const jsonHeaders = { ...headers, 'Content-Type': 'application/json' };

  function report(route: UpstreamRoute, status: UpstreamRequestInfo['status'], startedMs: number): void {
    options.onRequest?.({ route, status, durationMs: Math.max(0, now() - startedMs) });
  }

  /** One HTTP exchange. Throws only for failures without an answer (and for aborts). */
  async function send(plan: CallPlan, attempt: number, signal: AbortSignal): Promise<ExchangeAnswer> {
    const startedMs = now();
    try {
      const answer = await exchange(
        { url: `${baseUrl}${plan.path}`, method: plan.method, headers: plan.body === undefined ? headers : jsonHeaders, ...(plan.body === undefined ? {} : { body: plan.body }) },
        signal,
        timeoutMs,
      );
      budget.observe(parseRateLimitHeaders(answer.headers));
      report(plan.route, answer.status, startedMs);
      log.debug({ method: plan.method, route: plan.route, status: answer.status, attempt, durationMs: now() - startedMs }, 'upstream answer');
      return answer;
    } catch (err) {
      // The caller's abort and close() are not upstream failures: pass their reason on untouched.
      if (signal.aborted) throw abortReason(signal);
      const timedOut = isExchangeTimeout(err);
      report(plan.route, timedOut ? 'timeout' : 'network', startedMs);
      log.debug({ method: plan.method, route: plan.route, status: timedOut ? 'timeout' : 'network', attempt }, 'upstream attempt failed');
      throw timedOut
        ? err
        : new UpstreamError({
            status: 0, code: UPSTREAM_ERROR_CODES.network,
            message: `Upstream unreachable: ${err instanceof Error ? err.message : String(err)}`, kind: 'network', cause: err,
          });
    }
  }

  /** The error of a non-2xx answer, with the wait upstream asked for (and the shared budget told). */
  function failure(answer: ExchangeAnswer): UpstreamError {
    const at = now();
    const rateLimit = parseRateLimitHeaders(answer.headers);
    let retryAfterMs: number | undefined;
    if (answer.status === 429 || answer.status === 503) retryAfterMs = parseRetryAfter(answer.headers.get('retry-after'), at);
    if (answer.status === 429) {
      // Every call shares the account's window, so a 429's pause applies to all of them.
      if (retryAfterMs !== undefined) budget.blockUntil(at + retryAfterMs);
      else {
        const reset = rateLimit?.resetAtMs;
        if (reset !== undefined && reset > at) retryAfterMs = reset - at;
      }
    }
    return errorFromResponse(answer.status, answer.text, retryAfterMs, rateLimit);
  }

  async function call(plan: CallPlan, callOptions: CallOptions | undefined): Promise<Execution> {
    if (lifecycle.signal.aborted) throw closedError;
    if (!callOptions?.signal) return attempts(plan, callOptions, lifecycle.signal);
    const callSignal = linkSignal([callOptions.signal, lifecycle.signal]);
    try {
      return await attempts(plan, callOptions, callSignal.signal);
    } finally {
      callSignal.dispose();
    }
  }

  async function attempts(plan: CallPlan, callOptions: CallOptions | undefined, signal: AbortSignal): Promise<Execution> {
    const priority = callOptions?.priority ?? 'high';
    // A caller's shorter patience wins; it never stretches the client's own bound.
    const waitBoundMs = Math.min(callOptions?.maxWaitMs ?? maxWaitMs, maxWaitMs);
    for (let attempt = 0; ; attempt++) {
      await budget.acquire(priority, signal, waitBoundMs);
      const release = await limiter.acquire(signal);
      let error: UpstreamError;
      try {
        const answer = await send(plan, attempt, signal);
        if (answer.ok) return checkedExecution(parseExecution(answer.text, answer.status, plan.flowId), answer.status, plan);
        error = failure(answer);
      } catch (err) {
        if (!(err instanceof UpstreamError) || err === closedError || err.kind === 'bad_response') throw err;
        error = err;
      } finally {
        release();
      }
      if (!error.retryable || attempt >= retries) throw error;
      const delayMs = Math.max(error.retryAfterMs ?? 0, fullJitterDelay(attempt, backoff, random));
      if (delayMs > waitBoundMs) {
        log.debug({ route: plan.route, status: error.status, attempt, delayMs }, 'upstream retry wait too long; giving up');
        throw error;
      }
      log.debug({ method: plan.method, route: plan.route, status: error.status, kind: error.kind, attempt, delayMs }, 'upstream retry');
      await sleep(delayMs, signal);
    }
  }

  return {
    startRun(flowId, body: StartRunBody, callOptions) {
      if (!isValidId(flowId)) return Promise.reject(notFoundLocally('Flow'));
      // A generated key makes every start safe to retry; it is left in the caller's body so the
      // caller can persist the key it was sent under.
      if (typeof body.idempotencyKey !== 'string' || body.idempotencyKey === '') body.idempotencyKey = newKey();
      return call(
        { route: 'start', method: 'POST', path: `/flows/${encodeURIComponent(flowId)}/run`, body: JSON.stringify(body), flowId },
        callOptions,
      );
    },
    getRun(id, callOptions) {
      if (!isValidId(id)) return Promise.reject(notFoundLocally('Execution'));
      return call({ route: 'get', method: 'GET', path: `/runs/${encodeURIComponent(id)}`, runId: id }, callOptions);
    },
    cancelRun(id, callOptions) {
      if (!isValidId(id)) return Promise.reject(notFoundLocally('Execution'));
      // Retrying a cancel is safe: a repeat on a run already cancelled answers 409 ALREADY_CANCELLED.
      return call({ route: 'cancel', method: 'POST', path: `/runs/${encodeURIComponent(id)}/cancel`, runId: id }, callOptions);
    },
    async forward(request) {
      if (lifecycle.signal.aborted) throw closedError;
      const startedMs = now();
      const signal = request.signal ? AbortSignal.any([request.signal, lifecycle.signal]) : lifecycle.signal;
      try {
        const answer = await forwardRequest({ baseUrl, apiKey: options.apiKey, idleTimeoutMs: timeoutMs }, { ...request, signal });
        const answerHeaders = headerReader(answer.headers);
        budget.observe(parseRateLimitHeaders(answerHeaders));
        if (answer.status === 429) {
          const retryAfterMs = parseRetryAfter(answerHeaders.get('retry-after'), now());
          if (retryAfterMs !== undefined) budget.blockUntil(now() + retryAfterMs);
        }
        report('proxy', answer.status, startedMs);
        return answer;
      } catch (error) {
        if (error instanceof UpstreamError) report('proxy', error.kind === 'timeout' ? 'timeout' : 'network', startedMs);
        if (lifecycle.signal.aborted) throw closedError;
        throw error;
      }
    },
    rateBudget(): RateBudgetSnapshot {
      return budget.snapshot();
    },
    close() {
      if (lifecycle.signal.aborted) return;
      lifecycle.abort(closedError);
      limiter.close(closedError);
    },
  };
}
