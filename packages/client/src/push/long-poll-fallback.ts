import { backoffDelay, type BackoffOptions } from '../backoff.js';
import { isPermanentError, type DocloError } from '../errors.js';
import type { HttpClient } from '../http-client.js';
import { looksLikeRun, type Run } from '../run.js';
import { sleep, unrefTimer } from '../timers.js';

/** A fallback answer that came back sooner than this (not held) is followed by a pause, not a hot loop. */
const MIN_POLL_SPACING_MS = 1_000;

/** Options of LongPollFallback. */
export interface LongPollFallbackOptions {
  http: Pick<HttpClient, 'request'>;
  /** `Prefer: wait=N` of each long-poll (seconds, at most 60). */
  longPollSeconds: number;
  /** Pacing of the pauses after failed polls. */
  reconnect: BackoffOptions;
  /** Polling starts once the socket has been unusable this long. */
  fallbackAfterMs: number;
  /** The runs to poll when polling starts: followed and not final. */
  followedRuns: () => Iterable<string>;
  /** Whether a run is still worth asking about. */
  wants: (runId: string) => boolean;
  /** A state the gateway answered. */
  onRun: (runId: string, run: Run) => void;
  /** An answer after which asking again cannot help (unknown run, no permission…). */
  onFatal: (runId: string, error: DocloError) => void;
}

/**
 * While the socket is unusable, each followed run is long-polled with `Prefer: wait`, which the
 * gateway answers from its own state (held until the run ends or the wait passes) at no upstream
 * cost. It starts `fallbackAfterMs` after the socket became unusable, so a quick reconnect costs
 * no REST at all, and stops the moment the socket opens: the resubscribe with `since` then covers
 * every run.
 */
export class LongPollFallback {
  /** The socket has been unusable long enough: followed runs are polled. */
  private active = false;
  private startTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly polls = new Map<string, AbortController>();

  constructor(private readonly options: LongPollFallbackOptions) {}

  /** The socket is connecting or waiting to reconnect: poll if that lasts. */
  socketUnusable(): void {
    if (this.active || this.startTimer) return;
    this.startTimer = unrefTimer(
      setTimeout(() => {
        this.startTimer = undefined;
        this.active = true;
        for (const runId of this.options.followedRuns()) this.follow(runId);
      }, this.options.fallbackAfterMs),
    );
  }

  /** Stops polling and any pending start: the socket is open, or nothing needs it any more. */
  disarm(): void {
    if (this.startTimer) clearTimeout(this.startTimer);
    this.startTimer = undefined;
    this.active = false;
    for (const controller of this.polls.values()) controller.abort();
    this.polls.clear();
  }

  /** A run to follow: polled at once while the fallback is active. */
  follow(runId: string): void {
    if (!this.active || this.polls.has(runId) || !this.options.wants(runId)) return;
    const controller = new AbortController();
    this.polls.set(runId, controller);
    void this.poll(runId, controller.signal)
      .catch(() => undefined)
      .finally(() => {
        if (this.polls.get(runId) === controller) this.polls.delete(runId);
      });
  }

  /** A run no longer followed, or final: stop polling it. */
  stop(runId: string): void {
    this.polls.get(runId)?.abort();
    this.polls.delete(runId);
  }

  /** Never rejects: every failure is either retried, handed to `onFatal`, or an abort. */
  private async poll(runId: string, signal: AbortSignal): Promise<void> {
    const seconds = this.options.longPollSeconds;
    let failures = 0;
    while (!signal.aborted && this.options.wants(runId)) {
      const startedAt = Date.now();
      try {
        const run = await this.options.http.request<unknown>('GET', `/api/v1/runs/${encodeURIComponent(runId)}`, {
          headers: { prefer: `wait=${seconds}` },
          holdMs: seconds * 1000,
          signal,
        });
        failures = 0;
        if (signal.aborted) return;
        if (looksLikeRun(run)) this.options.onRun(runId, run);
        const elapsed = Date.now() - startedAt;
        if (this.options.wants(runId) && elapsed < MIN_POLL_SPACING_MS) await sleep(MIN_POLL_SPACING_MS - elapsed, signal, true);
      } catch (error) {
        if (signal.aborted) return;
        if (isPermanentError(error)) {
          this.options.onFatal(runId, error);
          return;
        }
        // The gateway is down too, or busy: try again later, spaced out.
        try {
          await sleep(Math.max(200, backoffDelay(failures + 2, this.options.reconnect)), signal, true);
        } catch {
          return;
        }
        failures += 1;
      }
    }
  }
}
