import { request as httpRequest, type ClientRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { abortReason } from '@rungate/client/shared';
import { linkSignal } from './linked-signal.js';
import { UPSTREAM_ERROR_CODES, UpstreamError } from './upstream-error.js';

/** One request to Doclo's API, its body (if any) already serialised. */
export interface ExchangeRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
}

/** An answer with its whole body read, headers read the way fetch's `Headers.get` reads them. */
export interface ExchangeAnswer {
  status: number;
  ok: boolean;
  text: string;
  headers: { get(name: string): string | null };
}

/** How an exchange that ran out of time fails. */
function exchangeTimeout(timeoutMs: number): UpstreamError {
  return new UpstreamError({ status: 0, code: UPSTREAM_ERROR_CODES.timeout, message: `Upstream did not answer within ${timeoutMs} ms`, kind: 'timeout' });
}

/** Whether an exchange failed for want of time. */
export function isExchangeTimeout(error: unknown): error is UpstreamError {
  return error instanceof UpstreamError && error.kind === 'timeout';
}

/** How a reused kept-alive connection fails when the server had closed it. */
const STALE_SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE']);

/** A header's value as `Headers.get` gives it: several values joined, a missing one null. */
export function headerReader(headers: IncomingHttpHeaders): ExchangeAnswer['headers'] {
  return {
    get(name) {
      const value = headers[name.toLowerCase()];
      if (value === undefined) return null;
      return Array.isArray(value) ? value.join(', ') : value;
    },
  };
}

/**
 * Sends one request over node:http(s) — the default agent, so connections are kept alive — and
 * resolves once the whole answer is read. The same exchange through `fetch` built a web stream,
 * a request clone with a tee, and an AbortController per call: at a few hundred calls a second
 * it was a fifth of all the memory the gateway promoted to V8's old generation.
 *
 * `timeoutMs` bounds the whole exchange (connect, answer, body) and rejects with an
 * UpstreamError of kind `timeout`; `signal` aborts it with the signal's reason (an Error; any
 * other reason as an AbortError); anything else that stops it rejects with the socket's error.
 * A request that meets a kept-alive connection the server had just closed goes again once, at
 * once, on a new one. No redirects are followed and no encoding is asked for (so the body comes as sent: Doclo's API
 * answers JSON).
 */
export function httpExchange(request: ExchangeRequest, signal: AbortSignal, timeoutMs: number): Promise<ExchangeAnswer> {
  if (signal.aborted) return Promise.reject(abortReason(signal));
  const send = request.url.startsWith('https:') ? httpsRequest : httpRequest;
  const headers: Record<string, string | number> = { ...request.headers };
  if (request.body !== undefined) headers['Content-Length'] = Buffer.byteLength(request.body);
  return new Promise<ExchangeAnswer>((resolve, reject) => {
    let settled = false;
    let outgoing: ClientRequest;
    /** Ends the exchange once: false if it had already ended. */
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      return true;
    };
    const fail = (error: Error) => {
      if (!settle()) return;
      outgoing.destroy();
      reject(error);
    };
    const onAbort = () => fail(abortReason(signal));
    const timer = setTimeout(() => fail(exchangeTimeout(timeoutMs)), timeoutMs);
    timer.unref(); // close() aborts what is in flight; a pending timeout holds no process open
    signal.addEventListener('abort', onAbort, { once: true });
    const attempt = (fresh: boolean) => {
      outgoing = send(request.url, { method: request.method, headers });
      let answered = false;
      outgoing.on('error', (error: NodeJS.ErrnoException) => {
        // A kept-alive connection the server closed just as it was reused: nothing reached
        // Doclo, so the same request goes again at once on a new connection (as fetch does).
        if (!fresh && !answered && !settled && outgoing.reusedSocket && STALE_SOCKET_CODES.has(error.code ?? '')) return attempt(true);
        fail(error);
      });
      outgoing.on('response', (answer) => {
        answered = true;
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('error', fail);
        answer.on('aborted', () => fail(new Error('the answer was cut off')));
        answer.on('end', () => {
          if (!answer.complete) return fail(new Error('the answer was cut off'));
          const status = answer.statusCode ?? 0;
          if (settle()) resolve({ status, ok: status >= 200 && status < 300, text: Buffer.concat(chunks).toString('utf8'), headers: headerReader(answer.headers) });
        });
      });
      outgoing.end(request.body);
    };
    attempt(false);
  });
}

/** The same exchange through a given `fetch` (tests script upstream with one). */
export function fetchExchange(fetchImpl: typeof fetch): typeof httpExchange {
  return async (request, signal, timeoutMs) => {
    const attempt = linkSignal([signal], timeoutMs);
    try {
      const response = await fetchImpl(request.url, {
        method: request.method,
        headers: request.headers,
        ...(request.body === undefined ? {} : { body: request.body }),
        signal: attempt.signal,
      });
      return { status: response.status, ok: response.ok, text: await response.text(), headers: response.headers };
    } catch (error) {
      throw attempt.timedOut ? exchangeTimeout(timeoutMs) : error;
    } finally {
      attempt.dispose();
    }
  };
}
