/** Reconnect and retry pacing: exponential growth, capped, with full jitter. */
export interface BackoffOptions {
  /** The ceiling of the first delay (default 250 ms). */
  initialDelayMs?: number;
  /** The largest delay (default 15000 ms). */
  maxDelayMs?: number;
}

/**
 * The delay before attempt `attempt` (0-based): uniform in [0, min(max, initial·2^attempt)].
 * Full jitter spreads a crowd of clients that lost the same gateway, so they do not return
 * together (no reconnect storms).
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = options.initialDelayMs ?? 250;
  const max = options.maxDelayMs ?? 15_000;
  const ceiling = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** A timer that does not keep a Node process alive (browsers have no unref). */
export function unrefTimer(timer: ReturnType<typeof setTimeout>): ReturnType<typeof setTimeout> {
  (timer as { unref?: () => void }).unref?.();
  return timer;
}

/**
 * Resolves after `ms`, or rejects with the signal's reason when it aborts first. `keepAlive`
 * keeps a Node process running meanwhile (for pauses inside work someone is awaiting).
 */
export function sleep(ms: number, signal?: AbortSignal, keepAlive = false): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    if (!keepAlive) unrefTimer(timer);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The reason a signal aborted, as an Error (an abort without a reason gives an AbortError). */
export function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error) return reason;
  const error = new Error(typeof reason === 'string' ? reason : 'The operation was aborted');
  error.name = 'AbortError';
  return error;
}
