import { unrefTimer } from './timers.js';
import { DocloError, NetworkError, TimeoutError, errorFromResponse } from './errors.js';
import { causeText, type Reachability } from './reachability.js';

/** What the REST part of the client needs from `fetch` (the global one by default). */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface HttpClientOptions {
  /** The gateway's base URL, no trailing slash. */
  baseUrl: string;
  token: string | undefined;
  fetch: FetchLike;
  /** Per-request deadline, on top of any hold the request asks for. */
  requestTimeoutMs: number;
  /** Told of every answer and every failure to reach the gateway. */
  reachability?: Reachability;
}

export interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Extra time the server may legitimately hold this request (long-polls, `wait: true`). */
  holdMs?: number;
}

/**
 * JSON over fetch against the gateway's Doclo-compatible routes. Non-2xx answers become typed
 * errors; a failure to connect becomes NetworkError, whose message names the gateway's URL and the
 * socket's own reason (fetch hides it in `cause`); running past the deadline, TimeoutError. An
 * abort by the caller's own signal rethrows the signal's reason untouched.
 */
export class HttpClient {
  constructor(private readonly options: HttpClientOptions) {}

  async request<T>(method: 'GET' | 'POST', path: string, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (this.options.token !== undefined) headers.authorization = `Bearer ${this.options.token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';

    const deadline = new AbortController();
    const timeoutMs = this.options.requestTimeoutMs + (options.holdMs ?? 0);
    const timer = unrefTimer(setTimeout(() => deadline.abort(), timeoutMs));
    const onCallerAbort = () => deadline.abort();
    options.signal?.addEventListener('abort', onCallerAbort, { once: true });
    try {
      let response: Response;
      try {
        response = await this.options.fetch(`${this.options.baseUrl}${path}`, {
          method,
          headers,
          signal: deadline.signal,
          ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
        });
      } catch (error) {
        throw this.failure(error, options.signal, method, path, timeoutMs);
      }
      this.options.reachability?.contacted();
      let text: string;
      try {
        text = await response.text();
      } catch (error) {
        throw this.failure(error, options.signal, method, path, timeoutMs);
      }
      let body: unknown = undefined;
      if (text !== '') {
        try {
          body = JSON.parse(text);
        } catch {
          if (response.ok) throw new DocloError('INVALID_RESPONSE', `${method} ${path} answered with something that is not JSON`, response.status);
        }
      }
      if (!response.ok) throw errorFromResponse(response.status, response.statusText, response.headers, body);
      return body as T;
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onCallerAbort);
    }
  }

  private failure(error: unknown, callerSignal: AbortSignal | undefined, method: string, path: string, timeoutMs: number): unknown {
    if (callerSignal?.aborted) return callerSignal.reason;
    if (error instanceof DocloError) return error;
    if (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError')) {
      return new TimeoutError(`the gateway at ${this.options.baseUrl} did not answer ${method} ${path} within ${timeoutMs}ms`);
    }
    const reason = this.reasonOf(error);
    this.options.reachability?.failed(reason, error);
    return new NetworkError(`cannot reach the gateway at ${this.options.baseUrl}: ${reason}`, error);
  }

  private reasonOf(error: unknown): string {
    const reason = causeText(error);
    // fetch (like browsers) never connects to ports such as 1, 9 or 6000; its reason is two words.
    if (reason !== 'bad port') return reason;
    const url = new URL(this.options.baseUrl);
    return `fetch refuses to connect to port ${url.port || '(default)'} (a "bad port" of the Fetch standard)`;
  }
}
