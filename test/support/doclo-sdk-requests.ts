/**
 * The requests of Doclo's own client (@doclo/client, doclo-api.md §10 and §8.4), re-created with
 * fetch: `${baseUrl}/api/v1${path}` (its base URL is given without /api/v1), Authorization,
 * Content-Type and Accept: application/json on every request, exactly one attempt (no retries,
 * no Prefer header), the idempotency key as a body field, and its mapping of answers to errors.
 */

/** The SDK's error, by the class its fetch layer picks for a status. */
export class SdkError extends Error {
  constructor(
    readonly className: 'AuthenticationError' | 'AuthorizationError' | 'NotFoundError' | 'ValidationError' | 'RateLimitError' | 'DocloError' | 'TimeoutError',
    readonly code: string,
    message: string,
    readonly statusCode?: number,
    readonly details?: Record<string, unknown>,
    readonly rateLimitInfo?: { limit: number; remaining: number; reset: number; retryAfter?: number },
  ) {
    super(message);
  }
}

const CLASS_BY_STATUS: Record<number, SdkError['className']> = { 401: 'AuthenticationError', 403: 'AuthorizationError', 404: 'NotFoundError', 400: 'ValidationError', 422: 'ValidationError', 429: 'RateLimitError' };

function integer(headers: Headers, name: string): number | undefined {
  const value = headers.get(name);
  return value !== null && /^\d+$/.test(value) ? Number(value) : undefined;
}

/** The SDK reads rate-limit info only when all three X-RateLimit-* headers are valid integers. */
function rateLimitInfoOf(headers: Headers): SdkError['rateLimitInfo'] {
  const [limit, remaining, reset] = ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'].map((name) => integer(headers, name));
  if (limit === undefined || remaining === undefined || reset === undefined || reset > 2e9) return undefined;
  const retryAfter = integer(headers, 'retry-after');
  return { limit, remaining, reset, ...(retryAfter !== undefined && retryAfter <= 86_400 ? { retryAfter } : {}) };
}

/** One attempt, as the SDK's docloFetch makes it. */
export async function docloFetch<T = Record<string, unknown>>(baseUrl: string, apiKey: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${baseUrl}/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json', Accept: 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  if (!response.ok) {
    let envelope: { error?: { code?: string; message?: string; details?: Record<string, unknown> } } | undefined;
    try {
      envelope = JSON.parse(text) as typeof envelope;
    } catch {
      throw new SdkError('DocloError', 'UNKNOWN_ERROR', `HTTP ${response.status}: ${response.statusText}`, response.status);
    }
    const className = CLASS_BY_STATUS[response.status] ?? 'DocloError';
    // Its RateLimitError's code is always RATE_LIMIT_EXCEEDED, whatever the body said.
    const code = className === 'RateLimitError' ? 'RATE_LIMIT_EXCEEDED' : (envelope?.error?.code ?? 'UNKNOWN_ERROR');
    throw new SdkError(className, code, envelope?.error?.message ?? `HTTP ${response.status}`, response.status, envelope?.error?.details,
      className === 'RateLimitError' ? rateLimitInfoOf(response.headers) : undefined);
  }
  return JSON.parse(text) as T;
}

/** `flows.run` options; the SDK sends each only when truthy (`input` always). */
export interface FlowRunOptions {
  input: Record<string, unknown>;
  webhookUrl?: string;
  metadata?: Record<string, unknown>;
  idempotencyKey?: string;
  wait?: boolean;
  timeout?: number;
  version?: string;
}

/** The SDK's resources, pointed at `baseUrl` (without /api/v1). */
export function docloClient(baseUrl: string, apiKey: string) {
  const call = <T = Record<string, unknown>>(method: 'GET' | 'POST', path: string, body?: unknown) => docloFetch<T>(baseUrl, apiKey, method, path, body);
  const runs = {
    get: (id: string) => call('GET', `/runs/${encodeURIComponent(id)}`),
    cancel: async (id: string): Promise<void> => {
      await call('POST', `/runs/${encodeURIComponent(id)}/cancel`);
    },
    /** GET; final → return; past `timeout` → TimeoutError; else sleep `interval` (fixed) and repeat. */
    async waitForCompletion(id: string, { interval = 1000, timeout = 300_000 } = {}): Promise<{ run: Record<string, unknown>; gets: number }> {
      const startedAt = Date.now();
      let gets = 0;
      for (;;) {
        const run = await runs.get(id);
        gets += 1;
        if (['success', 'failed', 'cancelled'].includes(run.status as string)) return { run, gets };
        if (Date.now() - startedAt > timeout) throw new SdkError('TimeoutError', 'TIMEOUT', `Execution ${id} did not complete within ${timeout}ms`, 408);
        await new Promise((resolve) => setTimeout(resolve, interval));
      }
    },
  };
  const flows = {
    run(flowId: string, options: FlowRunOptions) {
      const body: Record<string, unknown> = { input: options.input };
      for (const key of ['webhookUrl', 'metadata', 'idempotencyKey', 'wait', 'timeout', 'version'] as const) if (options[key]) body[key] = options[key];
      return call('POST', `/flows/${encodeURIComponent(flowId)}/run`, body);
    },
    list({ limit, cursor }: { limit?: number; cursor?: string } = {}) {
      const query = new URLSearchParams();
      if (limit !== undefined) query.set('limit', String(limit));
      if (cursor !== undefined) query.set('cursor', cursor);
      const text = query.toString();
      return call<{ data: Array<Record<string, unknown>>; hasMore: boolean; nextCursor?: string }>('GET', `/flows${text ? `?${text}` : ''}`);
    },
    get: (flowId: string, version?: string) => call('GET', `/flows/${encodeURIComponent(flowId)}${version ? `?version=${encodeURIComponent(version)}` : ''}`),
  };
  return { flows, runs };
}
