/**
 * A SIGINT (Ctrl-C) turned into an abort signal, for as long as a client command follows a run:
 * the run goes on, the command stops following it.
 */
export interface Interruption {
  /** Aborts on the first SIGINT: whatever fails after that failed because of it. */
  readonly signal: AbortSignal;
  /** Gives SIGINT back its default meaning. */
  dispose(): void;
}

/**
 * Listens for SIGINT (Ctrl-C) until disposed. Without a listener Node dies at once with the
 * status line half drawn and the terminal's `^C` on it; with one the command can redraw the line
 * clean, say what goes on, and exit 130 itself.
 */
export function interruptOnSigint(): Interruption {
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onSigint) };
}

/** Settles as `work` does, or rejects as soon as the signal aborts (`work` goes on unobserved). */
export function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new DOMException('interrupted', 'AbortError'));
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    void work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
