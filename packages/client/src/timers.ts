// Timers and aborts that behave the same in Node and in browsers.

/** A timer that does not keep a Node process alive (browsers have no unref). */
export function unrefTimer(timer: ReturnType<typeof setTimeout>): ReturnType<typeof setTimeout> {
  (timer as { unref?: () => void }).unref?.();
  return timer;
}

/**
 * The error an aborted signal stands for: its reason when that is an Error (`AbortSignal.abort()`
 * and `close()` give one), else a DOMException named AbortError (carrying a string reason as its
 * message), so rejections are always Errors.
 */
export function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error) return reason;
  return new DOMException(typeof reason === 'string' ? reason : 'The operation was aborted', 'AbortError');
}

/**
 * Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. The timer is
 * unref'd (a pending retry must not keep a process alive) unless `keepAlive` is set, for pauses
 * inside work someone is awaiting.
 */
export function sleep(ms: number, signal?: AbortSignal, keepAlive = false): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    if (!keepAlive) unrefTimer(timer);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
