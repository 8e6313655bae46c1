import type { Response } from 'express';

/**
 * A signal that aborts when the caller goes away before its answer is written (the socket
 * closed), so work done only for that caller — a start's retries, a long-poll — stops with it.
 * It watches the response: a request's own 'close' fires as soon as its body has been read.
 */
export function callerGone(res: Response): AbortSignal {
  const controller = new AbortController();
  if (res.destroyed) {
    controller.abort();
    return controller.signal;
  }
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}
