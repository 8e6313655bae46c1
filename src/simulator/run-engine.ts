import { RungateError } from '../errors.js';
import { deriveOutput } from './document.js';
import { createIdempotencyIndex } from './idempotency-index.js';
import type { Rng } from './rng.js';
import { isTerminal, type SimRun } from './sim-run.js';
import type { StartRequest } from './start-request.js';

/** How a `wait:true` hold ended. */
export type WaitOutcome = 'ended' | 'timeout' | 'closed';

/** What the engine needs: the lifecycle knobs, its RNG streams and who hears about final runs. */
export interface RunEngineOptions {
  runMs: number;
  failRate: number;
  /** Draws run ids. */
  idRng: Rng;
  /** Draws durations, start delays and failures. */
  lifecycleRng: Rng;
  /** Called once when a run ends `success` or `failed` (not on cancel): the webhook hook. */
  onFinished: (run: SimRun) => void;
  now?: () => number;
}

/**
 * Owns every simulated run: creates them (with idempotency), moves them queued → running →
 * success/failed on timers, cancels them, and lets requests wait for their end.
 * After close() no timer fires and every pending wait resolves 'closed'.
 */
export interface RunEngine {
  /** A new run, or the existing one for a repeated idempotency key (`created` false). */
  start(flowId: string, request: StartRequest): { run: SimRun; created: boolean };
  get(id: string): SimRun | undefined;
  /** Cancels a queued or running run; throws RungateError 404 / 409 ALREADY_CANCELLED / 409 NOT_CANCELLABLE. */
  cancel(id: string): SimRun;
  /** Resolves when the run is terminal, after `ms`, or at close(), whichever comes first. */
  waitForEnd(run: SimRun, ms: number): Promise<WaitOutcome>;
  counts(): { total: number; terminal: number };
  close(): void;
}

const STEPS_TOTAL = 3;

/** Builds an engine; its timers are unref'd so they never keep a process alive on their own. */
export function createRunEngine(options: RunEngineOptions): RunEngine {
  const now = options.now ?? Date.now;
  const runs = new Map<string, SimRun>();
  const timers = new Map<string, NodeJS.Timeout[]>();
  const waiters = new Map<string, Set<(outcome: WaitOutcome) => void>>();
  const idempotency = createIdempotencyIndex();
  let terminal = 0;
  let closed = false;

  const newId = (): string => {
    for (;;) {
      const id = `exec_${options.idRng.hex(8)}`;
      if (!runs.has(id)) return id;
    }
  };

  const clearTimers = (id: string): void => {
    for (const timer of timers.get(id) ?? []) clearTimeout(timer);
    timers.delete(id);
  };

  const schedule = (id: string, delayMs: number, fn: () => void): void => {
    const timer = setTimeout(fn, delayMs);
    timer.unref();
    const list = timers.get(id);
    if (list) list.push(timer);
    else timers.set(id, [timer]);
  };

  const settle = (run: SimRun): void => {
    terminal++;
    clearTimers(run.id);
    const pending = waiters.get(run.id);
    waiters.delete(run.id);
    for (const resolve of pending ?? []) resolve('ended');
  };

  const begin = (run: SimRun): void => {
    if (run.status !== 'queued') return;
    run.status = 'running';
    run.startedAtMs = now();
  };

  const finish = (run: SimRun): void => {
    if (isTerminal(run.status)) return;
    begin(run);
    const at = now();
    const { pageCount, sha256 } = run.document;
    // Token counts vary by document but stay deterministic: they come from the bytes' hash.
    const tokensUsed = 400 + pageCount * 800 + (parseInt(sha256.slice(0, 6), 16) % 300);
    run.completedAtMs = at;
    if (run.plan.fails) {
      run.status = 'failed';
      run.error = { code: 'EXTRACTION_FAILED', message: 'Unable to extract structured data from document', step: 'extract' };
      run.metrics = metrics(at - run.createdAtMs, pageCount, pageCount, Math.round(tokensUsed / 2), 1);
    } else {
      run.status = 'success';
      run.output = deriveOutput(run.document);
      run.metrics = metrics(at - run.createdAtMs, pageCount, pageCount * 2, tokensUsed, STEPS_TOTAL);
    }
    settle(run);
    options.onFinished(run);
  };

  return {
    start(flowId, request) {
      if (request.idempotencyKey !== undefined) {
        const existingId = idempotency.lookup(request.idempotencyKey, request.fingerprint);
        const existing = existingId === undefined ? undefined : runs.get(existingId);
        if (existing) return { run: existing, created: false };
      }
      const durationMs = Math.round(options.runMs * (0.5 + options.lifecycleRng.next()));
      const startAfterMs = Math.round(durationMs * (0.1 + 0.1 * options.lifecycleRng.next()));
      const fails = options.lifecycleRng.chance(options.failRate);
      const run: SimRun = {
        id: newId(),
        flowId,
        version: request.version,
        status: 'queued',
        createdAtMs: now(),
        plan: { startAfterMs, durationMs, fails },
        document: request.document,
        ...(request.metadata === undefined ? {} : { metadata: request.metadata }),
        ...(request.webhookUrl === undefined ? {} : { webhookUrl: request.webhookUrl }),
        ...(request.webhookSecret === undefined ? {} : { webhookSecret: request.webhookSecret }),
      };
      runs.set(run.id, run);
      if (request.idempotencyKey !== undefined) idempotency.remember(request.idempotencyKey, request.fingerprint, run.id);
      if (!closed) {
        schedule(run.id, startAfterMs, () => begin(run));
        schedule(run.id, durationMs, () => finish(run));
      }
      return { run, created: true };
    },

    get: (id) => runs.get(id),

    cancel(id) {
      const run = runs.get(id);
      if (!run) throw new RungateError('EXECUTION_NOT_FOUND', { message: `Execution not found: ${id}` });
      if (run.status === 'cancelled') throw new RungateError('ALREADY_CANCELLED', { message: 'Execution is already cancelled' });
      if (isTerminal(run.status)) {
        throw new RungateError('NOT_CANCELLABLE', { message: `Execution has already finished with status ${run.status}`, details: { status: run.status } });
      }
      run.status = 'cancelled';
      run.cancelledAtMs = now();
      settle(run);
      return run;
    },

    waitForEnd(run, ms) {
      if (isTerminal(run.status)) return Promise.resolve('ended');
      if (closed) return Promise.resolve('closed');
      return new Promise((resolve) => {
        const set = waiters.get(run.id) ?? new Set();
        waiters.set(run.id, set);
        const done = (outcome: WaitOutcome): void => {
          clearTimeout(timer);
          set.delete(done);
          resolve(outcome);
        };
        const timer = setTimeout(() => done('timeout'), ms);
        timer.unref();
        set.add(done);
      });
    },

    counts: () => ({ total: runs.size, terminal }),

    close() {
      closed = true;
      for (const id of [...timers.keys()]) clearTimers(id);
      const pending = [...waiters.values()].flatMap((set) => [...set]);
      waiters.clear();
      for (const resolve of pending) resolve('closed');
    },
  };
}

function metrics(durationMs: number, pageCount: number, creditsUsed: number, tokensUsed: number, stepsRun: number): Record<string, number> {
  return {
    durationMs,
    pageCount,
    creditsUsed,
    tokensUsed,
    // An illustrative per-token price in USD, rounded as a bill would be.
    cost: Math.round(tokensUsed * 0.000003 * 1e6) / 1e6,
    stepsRun,
    stepsTotal: STEPS_TOTAL,
  };
}
