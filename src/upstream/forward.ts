import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { requestHeadersToForward } from './forward-headers.js';
import type { ForwardAnswer, ForwardRequest } from './upstream.js';
import { UPSTREAM_ERROR_CODES, UpstreamError } from './upstream-error.js';

/** Where and how a ForwardRequest is sent. */
export interface ForwardTarget {
  /** Doclo's API base without a trailing slash, e.g. `https://app.doclo.ai/api/v1`. */
  baseUrl: string;
  apiKey: string | undefined;
  /** Longest silence on the connection (waiting for the answer, or between body chunks). */
  idleTimeoutMs: number;
}

/**
 * Sends one request to Doclo and resolves with its answer as soon as the headers arrive, the
 * body still streaming. Bodies go through untouched in both directions (no decompression, no
 * buffering). Failures without an answer reject with an UpstreamError (`network`, `timeout`);
 * an abort rejects with the signal's reason and destroys the exchange.
 */
export function forwardRequest(target: ForwardTarget, request: ForwardRequest): Promise<ForwardAnswer> {
  const url = new URL(`${target.baseUrl}${request.pathAndQuery}`);
  const base = new URL(target.baseUrl);
  // The path was checked by the caller; this makes sure no spelling of it left Doclo's API base.
  if (url.origin !== base.origin || !`${url.pathname}/`.startsWith(`${base.pathname.replace(/\/+$/, '')}/`)) {
    return Promise.reject(new UpstreamError({ status: 0, code: UPSTREAM_ERROR_CODES.network, message: 'refusing to forward outside the API base', kind: 'network', retryable: false }));
  }
  const headers = requestHeadersToForward(request.headers);
  if (target.apiKey) headers.authorization = `Bearer ${target.apiKey}`;
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<ForwardAnswer>((resolve, reject) => {
    const outgoing = send(url, { method: request.method, headers, ...(request.signal ? { signal: request.signal } : {}) });
    let settled = false;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      if (request.signal?.aborted) return reject(request.signal.reason instanceof Error ? request.signal.reason : new DOMException('aborted', 'AbortError'));
      if (error instanceof UpstreamError) return reject(error);
      reject(new UpstreamError({
        status: 0, code: UPSTREAM_ERROR_CODES.network, kind: 'network', cause: error,
        message: `Upstream unreachable: ${error instanceof Error ? error.message : String(error)}`,
      }));
    };
    outgoing.setTimeout(target.idleTimeoutMs, () => {
      const timeout = new UpstreamError({ status: 0, code: UPSTREAM_ERROR_CODES.timeout, kind: 'timeout', message: `Upstream did not answer within ${target.idleTimeoutMs} ms` });
      fail(timeout);
      outgoing.destroy(timeout);
    });
    outgoing.on('error', fail);
    outgoing.on('response', (answer) => {
      if (settled) {
        answer.destroy();
        return;
      }
      settled = true;
      resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: answer });
    });
    if (request.body) {
      request.body.on('error', (error) => outgoing.destroy(error));
      request.body.pipe(outgoing);
    } else {
      outgoing.end();
    }
  });
}
