import { Router, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { isFinal, isValidId, normalizeStatus, type Execution, type Run } from '../runs/run.js';
import type { FinalStateWaiters } from '../tracking/final-state-waiters.js';
import type { RunLookup } from '../tracking/run-lookup.js';
import { BodyReadError, RungateError, InvalidCursorError, LookupBudgetError } from '../errors.js';
import type { RunWriter } from '../tracking/run-writer.js';
import type { RunStore } from '../store/run-store.js';
import type { RunRecord } from '../runs/run-record.js';
import { timelineOf } from '../runs/run-timeline.js';
import { UpstreamError } from '../upstream/upstream-error.js';
import type { StartRunBody, Upstream } from '../upstream/upstream.js';
import { canRead, canWrite, mayLookUpstream, type Principal } from '../auth/principal.js';
import { ownerScopedKey } from './idempotency-scope.js';
import { answers, toAnswer, sendError } from './error-answers.js';
import { principalOf } from './auth-middleware.js';
import { parsePreferWait } from './prefer-wait.js';
import { callerGone } from './caller-gone.js';
import { isPlainObject } from '@rungate/client/shared';
import { redactUrl } from '../util/redact-url.js';
import { webhookUrlProblem } from '../relay/outbound-guard.js';
import { viewOf } from '../runs/delivery.js';

export interface RunsRouteDeps {
  upstream: Upstream;
  writer: RunWriter;
  lookup: RunLookup;
  waiters: FinalStateWaiters;
  store: RunStore;
  logger: Logger;
  /** Where Doclo should send this gateway's webhooks. */
  webhookUrl: () => string;
  /**
   * The longest wait for Doclo's rate limit a start (or cancel) sleeps through for its caller;
   * beyond it the caller gets 429 RATE_LIMITED at once (contract section 2).
   */
  callerMaxWaitMs: number;
  /** A fresh per-run webhook secret, when the gateway sends them. */
  newWebhookSecret?: () => string;
  /** Whether callers' webhookUrls may point at loopback and private hosts (--relay-allow-private). */
  relayAllowPrivate: boolean;
  /** Queues the failed deliveries of a run again (POST …/deliveries/retry); resolves to the run's record after. */
  retryDeliveries: (runId: string) => Promise<RunRecord | undefined>;
}

const DEFAULT_SYNC_TIMEOUT_MS = 30_000;
const MAX_SYNC_TIMEOUT_MS = 60_000;
const MAX_LIST_LIMIT = 500;


/**
 * The id rule of contract section 2 on a route's id: outside it (`..`, `a/b` once decoded…) the
 * run or flow cannot exist, so it is 404 at once — never an upstream call, where `fetch` would
 * resolve a dot segment into another Doclo route.
 */
function checkRunId(id: string): void {
  if (!isValidId(id)) throw answers.runNotFound(id);
}

function checkFlowId(flowId: string): void {
  if (!isValidId(flowId)) throw answers.flowNotFound(flowId);
}

/** Reads a start request's body, keeping only the fields the gateway passes through. */
function parseStartBody(body: unknown, allowPrivate: boolean): { start: StartRunBody; wait: boolean; timeoutMs: number; webhookUrl: string | undefined } {
  if (!isPlainObject(body)) throw answers.invalidInput('Request body must be a JSON object');
  const { input, metadata, version, idempotencyKey, wait, timeout, webhookUrl } = body;
  if (!isPlainObject(input)) throw answers.missingField('input', 'must be an object');
  if (metadata !== undefined && !isPlainObject(metadata)) throw answers.validation('metadata must be an object', { field: 'metadata' });
  if (version !== undefined && typeof version !== 'string') throw answers.validation('version must be a string', { field: 'version' });
  if (idempotencyKey !== undefined && (typeof idempotencyKey !== 'string' || idempotencyKey.length === 0 || idempotencyKey.length > 256)) {
    throw answers.validation('idempotencyKey must be a string of 1 to 256 characters', { field: 'idempotencyKey' });
  }
  if (wait !== undefined && typeof wait !== 'boolean') throw answers.validation('wait must be a boolean', { field: 'wait' });
  if (timeout !== undefined && (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0)) {
    throw answers.validation('timeout must be a positive number of milliseconds (at most 60000 are used)', { field: 'timeout' });
  }
  // The caller's own webhook: the gateway delivers there itself (contract section 8), so it is
  // checked here, before anything is started, and never sent to Doclo.
  if (webhookUrl !== undefined) {
    const problem = typeof webhookUrl === 'string' ? webhookUrlProblem(webhookUrl, allowPrivate) : 'must be a string';
    if (problem) throw answers.invalidInput(`webhookUrl ${problem}`, { field: 'webhookUrl' });
  }
  const start: StartRunBody = { input };
  if (metadata !== undefined) start.metadata = metadata;
  if (version !== undefined) start.version = version;
  if (idempotencyKey !== undefined) start.idempotencyKey = idempotencyKey;
  // A longer timeout is held to the 60 s Doclo allows, not refused.
  return {
    start,
    wait: wait === true,
    timeoutMs: typeof timeout === 'number' ? Math.min(timeout, MAX_SYNC_TIMEOUT_MS) : DEFAULT_SYNC_TIMEOUT_MS,
    webhookUrl: typeof webhookUrl === 'string' ? webhookUrl : undefined,
  };
}

/** A start that Doclo answered with a run the caller may not read: named neither by id nor by content. */
function foreignStart(callerKey: string | undefined): RungateError {
  return new RungateError('IDEMPOTENCY_KEY_CONFLICT', {
    message: 'Doclo answered this start with a run this caller may not read; start it again with another idempotencyKey',
    ...(callerKey !== undefined ? { details: { idempotencyKey: callerKey } } : {}),
  });
}

/** Doclo's REST routes, answered from the gateway's own state wherever it can. */
export function createRunsRouter(deps: RunsRouteDeps): Router {
  const router = Router();

  /** Holds until the run is final or `timeoutMs` passes (or the client leaves), then rereads. */
  async function holdUntilFinal(res: Response, id: string, timeoutMs: number): Promise<RunRecord | undefined> {
    const stop = new AbortController();
    const onClose = () => stop.abort();
    const gone = callerGone(res);
    gone.addEventListener('abort', onClose, { once: true });
    try {
      // Listen first, then look: a change between the two cannot slip through.
      const waiting = deps.waiters.waitForFinal(id, timeoutMs, stop.signal);
      const current = await deps.lookup.findLocal(id);
      if (!current || isFinal(current.run.status)) {
        stop.abort();
        await waiting;
        return current;
      }
      return (await waiting) ?? (await deps.lookup.findLocal(id));
    } finally {
      gone.removeEventListener('abort', onClose);
    }
  }

  /**
   * The run if this caller may read it. Callers who may cause upstream lookups (admins, holders
   * of a `runs` claim, everyone with auth off) get 404 for unknown runs; others get 403 for
   * both unknown runs and runs of other owners, so probing ids tells them nothing.
   */
  async function findReadable(res: Response, id: string): Promise<RunRecord> {
    const principal = principalOf(res);
    let record: RunRecord | undefined;
    if (mayLookUpstream(principal, id, deps.lookup.knownOwner(id))) {
      try {
        record = await deps.lookup.find(id);
      } catch (error) {
        if (error instanceof LookupBudgetError) throw answers.lookupLimit();
        throw error;
      }
      if (!record) throw answers.runNotFound(id);
    } else {
      record = await deps.lookup.findLocalReadable(id, (found) => canRead(principal, id, found));
    }
    if (!record || !canRead(principal, id, record)) throw answers.forbidden();
    return record;
  }

  /**
   * Doclo's 409 for a start, as this caller may see it: its own key (not the scoped one), and the
   * run it names only when the caller may read that run.
   */
  async function startConflict(error: UpstreamError, principal: Principal | undefined, callerKey: string | undefined, sentKey: string | undefined): Promise<RungateError> {
    const details: Record<string, unknown> = isPlainObject(error.details) ? { ...error.details } : {};
    let message = error.message;
    if (callerKey !== undefined && sentKey !== undefined) {
      if (details.idempotencyKey === sentKey) details.idempotencyKey = callerKey;
      message = message.split(sentKey).join(callerKey);
    }
    const named = details.executionId;
    if (named !== undefined && principal !== undefined && !principal.admin) {
      const readable = isValidId(named) && (await deps.lookup.findLocalReadable(named, (found) => canRead(principal, named, found))) !== undefined;
      if (!readable) {
        delete details.executionId;
        if (typeof named !== 'string' || message.includes(named)) message = 'Idempotency key was already used with a different request';
      }
    }
    return RungateError.passThrough(error.status, error.code, message, Object.keys(details).length > 0 ? details : undefined);
  }

  function sendRun(res: Response, run: Run): void {
    res.status(200).json(run);
  }

  router.post('/flows/:flowId/run', async (req, res) => {
    const flowId = req.params.flowId;
    checkFlowId(flowId);
    const { start, wait, timeoutMs, webhookUrl } = parseStartBody(req.body, deps.relayAllowPrivate);
    const principal = principalOf(res);
    const owner = principal?.sub;
    const webhookSecret = deps.newWebhookSecret?.();
    const callerKey = start.idempotencyKey;
    // Doclo's keys are the whole account's: each owner's go up under its own prefix.
    if (callerKey !== undefined) start.idempotencyKey = ownerScopedKey(owner, callerKey);
    // The start lives only as long as its caller's patience: a caller that left (or a rate-limit
    // pause longer than a short wait, answered 429 at once) leaves no retry behind that could
    // create a run after its caller was answered with an error or gave up.
    let execution: Execution;
    try {
      execution = await deps.upstream.startRun(
        flowId,
        { ...start, webhookUrl: deps.webhookUrl(), ...(webhookSecret ? { webhookSecret } : {}) },
        { signal: callerGone(res), maxWaitMs: deps.callerMaxWaitMs },
      );
    } catch (error) {
      if (error instanceof UpstreamError && error.kind === 'conflict') throw await startConflict(error, principal, callerKey, start.idempotencyKey);
      throw error;
    }
    const result = await deps.writer.apply(execution, 'request', {
      startedHere: true,
      ...(owner !== undefined ? { owner } : {}),
      ...(webhookSecret ? { webhookSecret } : {}),
      ...(webhookUrl !== undefined ? { webhookUrl } : {}),
    });
    if (!result.record) throw answers.unavailable('Doclo answered the start with something that is not a run');
    // Every start answer is checked with the caller's read rights: a start never answers with
    // another owner's run (contract section 2), whatever Doclo's de-duplication decided.
    if (!canRead(principal, execution.id, result.record)) {
      deps.logger.warn({ flowId }, 'Doclo answered a start with a run of another owner; refused');
      throw foreignStart(callerKey);
    }
    if (!wait || isFinal(result.record.run.status)) return sendRun(res, result.record.run);
    const held = (await holdUntilFinal(res, execution.id, timeoutMs)) ?? result.record;
    if (isFinal(held.run.status)) return sendRun(res, held.run);
    // As Doclo answers a synchronous start that outlasts its timeout; the run goes on.
    throw new RungateError('EXECUTION_TIMEOUT', {
      message: `Execution ${execution.id} did not complete within ${timeoutMs}ms; it goes on`,
      details: { executionId: execution.id, timeoutMs },
    });
  });

  router.get('/runs', async (req, res) => {
    const query = req.query;
    const limitText = query.limit;
    let limit = 50;
    if (limitText !== undefined) {
      if (typeof limitText !== 'string' || !/^\d{1,9}$/.test(limitText) || Number(limitText) < 1) {
        throw answers.invalidInput(`limit must be a positive integer (at most ${MAX_LIST_LIMIT} are returned)`, { field: 'limit' });
      }
      limit = Math.min(Number(limitText), MAX_LIST_LIMIT);
    }
    const status = query.status === undefined ? undefined : normalizeStatus(query.status);
    if (query.status !== undefined && status === undefined) {
      throw answers.invalidInput('status must be one of queued, running, success, failed, cancelled', { field: 'status' });
    }
    for (const field of ['flowId', 'cursor'] as const) {
      if (query[field] !== undefined && typeof query[field] !== 'string') throw answers.invalidInput(`${field} must be given once`, { field });
    }
    if (typeof query.flowId === 'string' && !isValidId(query.flowId)) throw answers.invalidInput('flowId is not a flow id', { field: 'flowId' });
    const principal = principalOf(res);
    let page;
    try {
      page = await deps.store.list({
        limit,
        ...(principal && !principal.admin ? { owner: principal.sub } : {}),
        ...(status ? { status } : {}),
        ...(typeof query.flowId === 'string' ? { flowId: query.flowId } : {}),
        ...(typeof query.cursor === 'string' ? { cursor: query.cursor } : {}),
      });
    } catch (error) {
      if (error instanceof InvalidCursorError) throw answers.invalidInput(error.message, { field: 'cursor' });
      throw error;
    }
    res.status(200).json(page.nextCursor ? { data: page.records.map((r) => r.run), nextCursor: page.nextCursor } : { data: page.records.map((r) => r.run) });
  });

  router.get('/runs/:id', async (req, res) => {
    const id = req.params.id;
    checkRunId(id);
    let record = await findReadable(res, id);
    const waitSeconds = parsePreferWait(req.headers.prefer);
    if (waitSeconds !== undefined) {
      res.set('Preference-Applied', `wait=${waitSeconds}`);
      if (!isFinal(record.run.status) && waitSeconds > 0) record = (await holdUntilFinal(res, id, waitSeconds * 1000)) ?? record;
    }
    sendRun(res, record.run);
  });

  // Where each state came from and when: the evidence for "the webhook never came".
  router.get('/runs/:id/timeline', async (req, res) => {
    const id = req.params.id;
    checkRunId(id);
    const record = await findReadable(res, id);
    res.status(200).json({ data: timelineOf(record) });
  });

  router.get('/runs/:id/deliveries', async (req, res) => {
    const id = req.params.id;
    checkRunId(id);
    await findReadable(res, id);
    // From the store, not the cache: delivery attempts are written there, not announced.
    const record = await deps.store.get(id);
    res.status(200).json({ data: record?.delivery ? [viewOf(record.delivery)] : [] });
  });

  router.post('/runs/:id/deliveries/retry', async (req, res) => {
    const id = req.params.id;
    checkRunId(id);
    const record = await findReadable(res, id);
    // A `runs` claim grants reading only: queueing deliveries again needs the owner or an admin.
    const principal = principalOf(res);
    if (principal && !canWrite(principal, record)) throw answers.forbidden();
    const after = await deps.retryDeliveries(id);
    res.status(202).json({ data: after?.delivery ? [viewOf(after.delivery)] : [] });
  });

  router.post('/runs/:id/cancel', async (req, res) => {
    const id = req.params.id;
    checkRunId(id);
    // With auth on, only the run's owner and admins may cancel it: a `runs` claim grants reading
    // only (contract section 5), and it gets the same 403 as a run it could not read at all.
    const principal = principalOf(res);
    if (principal && !canWrite(principal, await findReadable(res, id))) throw answers.forbidden();
    try {
      const execution = await deps.upstream.cancelRun(id, { signal: callerGone(res), maxWaitMs: deps.callerMaxWaitMs });
      const result = await deps.writer.apply(execution, 'request');
      if (!result.record) throw answers.unavailable('Doclo answered the cancel with something that is not a run');
      return sendRun(res, result.record.run);
    } catch (error) {
      if (error instanceof UpstreamError && error.kind === 'conflict') {
        // ALREADY_CANCELLED or NOT_CANCELLABLE: the run is final upstream; learn how it ended
        // before passing the 409 on, so every reader and subscriber sees the real final state.
        try {
          await deps.writer.apply(await deps.upstream.getRun(id), 'request');
        } catch (lookupError) {
          deps.logger.warn({ runId: id, err: lookupError }, 'could not learn the final state after a refused cancel');
        }
      }
      throw error;
    }
  });

  return router;
}

/** Express 5 passes async rejections to this handler; it answers in Doclo's envelope. */
export function apiErrorHandler(logger: Logger) {
  return (error: unknown, req: Request, res: Response, _next: (err?: unknown) => void): void => {
    if (res.destroyed) {
      // The caller left: its work was abandoned on purpose (an aborted start), nothing to answer.
      logger.debug({ err: error, method: req.method }, 'the caller left before its answer');
      return;
    }
    const apiError = toAnswer(clientError(error) ?? error);
    if (apiError.status >= 500 && !(error instanceof BodyReadError)) logger.error({ err: error, method: req.method, url: redactUrl(req.originalUrl) }, 'request failed');
    if (res.headersSent) {
      res.end();
      return;
    }
    sendError(res, apiError);
  };
}

/**
 * Client mistakes that surface as plain errors, as 4xx answers: the router's URIError for a
 * path whose percent-encoding is malformed, and body-parser's errors (bad JSON, too large).
 */
function clientError(error: unknown): RungateError | undefined {
  if (error instanceof URIError) return answers.invalidInput('The path has a malformed percent-encoding', { field: 'path' });
  if (!isPlainObject(error) || typeof error.type !== 'string') return undefined;
  if (error.type === 'entity.parse.failed') return answers.invalidInput('Request body is not valid JSON');
  if (error.type === 'entity.too.large') return answers.payloadTooLarge(Number(error.limit) || 0);
  if (error.type === 'encoding.unsupported' || error.type === 'charset.unsupported') return answers.invalidInput('Unsupported body encoding');
  return undefined;
}
