/** An AbortSignal tied to others for the length of one operation. */
export interface LinkedSignal {
  signal: AbortSignal;
  /** True once the link's own timeout (not a source) aborted it. */
  readonly timedOut: boolean;
  /** Unties it from its sources and stops its timer; call it when the operation ends. */
  dispose(): void;
}

/**
 * A signal that aborts, with the source's reason, when any of `sources` does — or, given
 * `timeoutMs`, with a TimeoutError after that long — like `AbortSignal.any([...sources,
 * AbortSignal.timeout(ms)])`, except that `dispose()` ends the links. Node 20's AbortSignal.any
 * keeps every signal it ever made reachable from a long-lived source (nodejs/node#55351): the
 * upstream client's lifecycle signal, combined once per call and per attempt, grew by one
 * dependant for every request the gateway ever made upstream.
 */
export function linkSignal(sources: ReadonlyArray<AbortSignal | undefined>, timeoutMs?: number): LinkedSignal {
  const controller = new AbortController();
  const linked: AbortSignal[] = [];
  let timer: NodeJS.Timeout | undefined;
  let timedOut = false;
  const dispose = (): void => {
    for (const source of linked) source.removeEventListener('abort', onAbort);
    linked.length = 0;
    if (timer) clearTimeout(timer);
    timer = undefined;
  };
  function onAbort(this: AbortSignal): void {
    dispose();
    controller.abort(this.reason);
  }
  for (const source of sources) {
    if (!source) continue;
    if (source.aborted) {
      dispose();
      controller.abort(source.reason);
      break;
    }
    source.addEventListener('abort', onAbort, { once: true });
    linked.push(source);
  }
  if (timeoutMs !== undefined && !controller.signal.aborted) {
    timer = setTimeout(() => {
      timedOut = true;
      dispose();
      controller.abort(new DOMException(`timed out after ${timeoutMs} ms`, 'TimeoutError'));
    }, timeoutMs);
    timer.unref();
  }
  return {
    signal: controller.signal,
    get timedOut() {
      return timedOut;
    },
    dispose,
  };
}
