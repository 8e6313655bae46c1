import type { Logger } from 'pino';
import type { Rng } from './rng.js';
import { toExecution } from './run-view.js';
import type { SimCounters } from './sim-stats.js';
import type { SimRun, StatusVocabulary } from './sim-run.js';
import { signWebhookBody } from './sign.js';

/** Fault and retry settings of webhook delivery. */
export interface WebhookSenderOptions {
  /** Signs runs that brought no `webhookSecret` of their own. */
  defaultSecret: string;
  vocabulary: StatusVocabulary;
  dropRate: number;
  duplicateRate: number;
  /** Each delivery (each copy of a duplicate) waits a random 0..delayMs more before its first attempt. */
  delayMs: number;
  /** Extra attempts after a non-2xx answer, a network error or a timeout. */
  retries: number;
  /** Per-attempt answer deadline. */
  timeoutMs: number;
  /** First retry waits this long, then twice as long each time. */
  backoffMs: number;
  rng: Rng;
  counters: SimCounters['webhooks'];
  logger: Logger;
}

/**
 * Delivers a run's final webhook. Counting: `sent` = attempts answered 2xx (a duplicate that
 * arrives twice counts 2); `dropped` = webhooks never sent; `duplicated` = webhooks sent as two
 * copies; `failed` = deliveries (copies) that ran out of retries.
 */
export interface WebhookSender {
  send(run: SimRun): void;
  /** Clears pending deliveries and retries and aborts requests in flight; nothing is counted after. */
  close(): void;
}

/** The event name Doclo documents for a final status. */
export function webhookEvent(run: SimRun): 'execution.completed' | 'execution.failed' {
  return run.status === 'failed' ? 'execution.failed' : 'execution.completed';
}

/** A sender whose timers are unref'd and tracked for close(). */
export function createWebhookSender(options: WebhookSenderOptions): WebhookSender {
  const timers = new Set<NodeJS.Timeout>();
  const inFlight = new Set<AbortController>();
  const { counters, logger } = options;
  let closed = false;

  const later = (ms: number, fn: () => void): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timer.unref();
    timers.add(timer);
  };

  const attempt = async (url: string, body: string, signature: string): Promise<number | string> => {
    const controller = new AbortController();
    inFlight.add(controller);
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-doclo-signature': signature, 'user-agent': 'rungate-simulator' },
        body,
        redirect: 'manual',
        signal: AbortSignal.any([controller.signal, AbortSignal.timeout(options.timeoutMs)]),
      });
      // Release the connection; the receiver's answer body means nothing to Doclo.
      await response.body?.cancel().catch(() => undefined);
      return response.status;
    } catch (error) {
      return error instanceof Error ? error.name : 'error';
    } finally {
      inFlight.delete(controller);
    }
  };

  const deliver = (runId: string, url: string, body: string, signature: string, attemptNo: number): void => {
    if (closed) return;
    void attempt(url, body, signature).then((outcome) => {
      if (closed) return;
      if (typeof outcome === 'number' && outcome >= 200 && outcome < 300) {
        counters.sent++;
        logger.debug({ runId, attempt: attemptNo + 1, status: outcome }, 'webhook delivered');
        return;
      }
      if (attemptNo < options.retries) {
        const wait = options.backoffMs * 2 ** attemptNo;
        logger.debug({ runId, attempt: attemptNo + 1, outcome, retryInMs: wait }, 'webhook attempt failed, will retry');
        later(wait, () => deliver(runId, url, body, signature, attemptNo + 1));
        return;
      }
      counters.failed++;
      logger.warn({ runId, attempts: attemptNo + 1, outcome }, 'webhook delivery gave up');
    });
  };

  return {
    send(run) {
      if (closed || run.webhookUrl === undefined) return;
      const url = run.webhookUrl;
      if (options.rng.chance(options.dropRate)) {
        counters.dropped++;
        logger.debug({ runId: run.id }, 'webhook dropped (fault injection)');
        return;
      }
      const copies = options.rng.chance(options.duplicateRate) ? 2 : 1;
      if (copies === 2) counters.duplicated++;
      // One body for every copy and retry: redeliveries carry the same bytes and timestamp.
      // A string is sent as its UTF-8 bytes, the same bytes the HMAC covers (JSON.stringify
      // never yields lone surrogates, so the encoding is lossless).
      const body = JSON.stringify({
        event: webhookEvent(run),
        timestamp: new Date().toISOString(),
        data: toExecution(run, options.vocabulary, Date.now()),
      });
      const signature = signWebhookBody(run.webhookSecret ?? options.defaultSecret, body);
      for (let copy = 0; copy < copies; copy++) {
        const delay = options.delayMs > 0 ? options.rng.int(options.delayMs + 1) : 0;
        if (delay > 0) later(delay, () => deliver(run.id, url, body, signature, 0));
        else deliver(run.id, url, body, signature, 0);
      }
    },
    close() {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const controller of inFlight) controller.abort();
      inFlight.clear();
    },
  };
}
