import type { BackoffOptions } from './backoff.js';
import { ClientClosedError, DocloError, NetworkError, TimeoutError, ValidationError } from './errors.js';
import { HttpClient, type FetchLike } from './http-client.js';
import type { FlowRunOptions, WaitForManyOptions, WaitOptions } from './options.js';
import { PushConnection } from './push/push-connection.js';
import { Reachability } from './reachability.js';
import { isFinalStatus, isValidId, type Delivery, type Run, type RunPage, type RunStatus, type TimelineEntry } from './run.js';
import { abortReason, unrefTimer } from './timers.js';
import { loadWebSocket, type WebSocketConstructor } from './web-socket.js';

/** Options of `createClient`. */
export interface ClientOptions {
  /** The gateway's base URL, e.g. `http://127.0.0.1:8080` (REST under `/api/v1`, socket at `/ws`). */
  url: string;
  /** A JWT for gateways started with `--jwt-secret`. */
  token?: string;
  /** A WebSocket constructor to use instead of the platform's (`globalThis.WebSocket`, else `ws`). */
  WebSocket?: WebSocketConstructor;
  /** A fetch to use instead of the global one. */
  fetch?: FetchLike;
  /** Reconnect pacing: exponential, full jitter (defaults 250 ms growing to 15 s). */
  reconnect?: BackoffOptions;
  /** Deadline of each REST call, on top of any hold it asks for (default 60000). */
  requestTimeoutMs?: number;
  /** `Prefer: wait` of the fallback long-polls, in seconds (default 30, at most 60). */
  longPollSeconds?: number;
  /** The socket closes after this long with nothing to follow (default 2000). */
  idleTimeoutMs?: number;
  /** The long-poll fallback starts once the socket has been unusable this long (default 2000). */
  fallbackAfterMs?: number;
  /** A connection attempt that has not opened after this long is abandoned (default 10000). */
  connectTimeoutMs?: number;
}

/** Options of `runs.subscribe`. */
export interface SubscribeOptions {
  /** Called once if following ends: unknown run, no permission, limits, or `close()`. */
  onError?: (error: DocloError) => void;
}

/** Options of `flows.subscribe`. */
export interface FlowSubscribeOptions extends SubscribeOptions {
  /**
   * Called each time the gateway confirms the subscription on a (new) socket. Flows have no
   * `since`: what changed while the socket was down is read then (`runs.list`).
   */
  onLive?: () => void;
  /** Called when the socket goes down while subscribed; the client reconnects by itself. */
  onLost?: () => void;
}

/** Query of `runs.list`. */
export interface RunListQuery {
  flowId?: string;
  status?: RunStatus;
  /** Default 50, at most 500. */
  limit?: number;
  cursor?: string;
}

/** A rungate client: Doclo's runs API, with waits and subscriptions answered by push. */
export interface RungateClient {
  runs: {
    /** The run's latest state, from the gateway. */
    get<T = unknown>(id: string): Promise<Run<T>>;
    /**
     * Resolves with the run once it is `success`, `failed` or `cancelled` (failures resolve too).
     * Rejects with TimeoutError after `timeout` ms (default 300000); the run goes on. When the
     * gateway could not be reached when that time ran out (nothing heard from it since the wait
     * began, the last attempt failed), it rejects with NetworkError instead, naming the URL and why.
     */
    waitForCompletion<T = unknown>(id: string, options?: WaitOptions): Promise<Run<T>>;
    /** Waits for every run (one socket for all), in the order given; the first error rejects. */
    waitForMany<T = unknown>(ids: readonly string[], options?: WaitForManyOptions): Promise<Array<Run<T>>>;
    /** Cancels the run; Doclo's 409s (`ALREADY_CANCELLED`, `NOT_CANCELLABLE`) reject as DocloError. */
    cancel<T = unknown>(id: string): Promise<Run<T>>;
    /** Calls `onRun` with the latest state and then each change (seq grows); returns unsubscribe. */
    subscribe<T = unknown>(id: string, onRun: (run: Run<T>) => void, options?: SubscribeOptions): () => void;
    /** The gateway's own list of the runs it tracks (the caller's own, or all for admins), newest first. */
    list<T = unknown>(query?: RunListQuery): Promise<RunPage<T>>;
    /** Every state change the gateway accepted for the run, oldest first. */
    timeline(id: string): Promise<TimelineEntry[]>;
    /** The deliveries of the run's final state to its `webhookUrl` (none for a run started without one). */
    deliveries(id: string): Promise<Delivery[]>;
    /** Queues the run's failed deliveries again; resolves with the deliveries as they are then. */
    retryDeliveries(id: string): Promise<Delivery[]>;
  };
  flows: {
    /** Starts a run of the flow with Doclo's options; with `wait: true` answers when it ends. */
    run<T = unknown>(flowId: string, options: FlowRunOptions): Promise<Run<T>>;
    /**
     * Calls `onRun` with each change of every run of the flow from now on (`*`: of every flow;
     * admins only when auth is on), each state once, across reconnects; returns unsubscribe.
     */
    subscribe<T = unknown>(flowId: string, onRun: (run: Run<T>) => void, options?: FlowSubscribeOptions): () => void;
  };
  /** The gateway's counters and their last hour, per minute (`GET /api/v1/stats`). */
  stats<T = unknown>(): Promise<T>;
  /** Closes the socket and stops every wait (they reject with ClientClosedError). */
  close(): void;
}

const DEFAULT_WAIT_TIMEOUT_MS = 300_000;
function checkId(id: unknown, what: string): string {
  if (!isValidId(id)) {
    throw new ValidationError('INVALID_INPUT', `${what} must be an id of letters, digits, _ . : - (at most 256)`);
  }
  return id;
}

/** The gateway's origin and path prefix (no trailing slash): REST and socket URLs hang off it. */
function endpointsOf(url: string): { baseUrl: string; wsUrl: string } {
  const location = (globalThis as { location?: { href?: string } }).location;
  const parsed = new URL(url, location?.href);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new ValidationError('INVALID_INPUT', 'url must be an http(s) URL');
  const prefix = parsed.pathname.replace(/\/+$/, '');
  return {
    baseUrl: `${parsed.origin}${prefix}`,
    wsUrl: `${parsed.protocol === 'https:' ? 'wss:' : 'ws:'}//${parsed.host}${prefix}/ws`,
  };
}

/**
 * Creates a client for a rungate gateway. Works in Node 20 (with `ws`) and in browsers (native
 * WebSocket and fetch). Nothing connects until the first wait or subscription.
 */
export function createClient(options: ClientOptions): RungateClient {
  const { baseUrl, wsUrl } = endpointsOf(options.url);
  const fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const reachability = new Reachability();
  const http = new HttpClient({ baseUrl, token: options.token, fetch: fetchImpl, requestTimeoutMs: options.requestTimeoutMs ?? 60_000, reachability });
  const longPollSeconds = Math.max(1, Math.min(60, Math.floor(options.longPollSeconds ?? 30)));
  const Ctor = options.WebSocket;
  const push = new PushConnection({
    wsUrl,
    token: options.token,
    loadWebSocket: Ctor ? () => Promise.resolve(Ctor) : loadWebSocket,
    http,
    reconnect: options.reconnect ?? {},
    longPollSeconds,
    idleTimeoutMs: options.idleTimeoutMs ?? 2_000,
    fallbackAfterMs: options.fallbackAfterMs ?? 2_000,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    reachability,
  });
  let closed = false;

  function waitForCompletion<T>(id: string, waitOptions: WaitOptions = {}): Promise<Run<T>> {
    return new Promise<Run<T>>((resolve, reject) => {
      if (closed) throw new ClientClosedError();
      checkId(id, 'run id');
      const timeout = waitOptions.timeout ?? DEFAULT_WAIT_TIMEOUT_MS;
      if (typeof timeout !== 'number' || !(timeout >= 0)) throw new ValidationError('INVALID_INPUT', 'timeout must be a number of milliseconds');
      const { signal } = waitOptions;
      if (signal?.aborted) throw abortReason(signal);

      let done = false;
      const attached: { detach?: () => void } = {};
      const finish = (settle: () => void) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        attached.detach?.();
        settle();
      };
      const onAbort = () => finish(() => reject(abortReason(signal)));
      const mark = reachability.mark();
      // Until the deadline the client keeps trying (a gateway that restarts meanwhile is no
      // failure); then the rejection tells a run still going from a gateway never reached.
      const expired = (): DocloError => {
        const unreachable = reachability.since(mark);
        const within = `Execution ${id} did not complete within ${timeout}ms`;
        return unreachable ? new NetworkError(`${within}: cannot reach the gateway at ${baseUrl}: ${unreachable.reason}`, unreachable.cause) : new TimeoutError(within);
      };
      // The wait's own deadline; the socket or the long-poll keep a Node process alive meanwhile.
      const timer = unrefTimer(setTimeout(() => finish(() => reject(expired())), timeout));
      signal?.addEventListener('abort', onAbort, { once: true });
      attached.detach = push.listen(id, {
        onRun: (run) => {
          if (isFinalStatus(run.status)) finish(() => resolve(run as Run<T>));
        },
        onError: (error) => finish(() => reject(error)),
      });
      if (done) attached.detach();
    });
  }

  async function waitForMany<T>(ids: readonly string[], manyOptions: WaitForManyOptions = {}): Promise<Array<Run<T>>> {
    const { onComplete, signal, ...rest } = manyOptions;
    // One deadline for the batch; on the first failure the other waits are released at once. Each
    // wait has its own signal: one signal shared by many waits makes Node warn past 10 listeners.
    const waits = ids.map((id) => ({ id, stop: new AbortController() }));
    const stopAll = (reason?: unknown) => {
      for (const { stop } of waits) stop.abort(reason);
    };
    const onAbort = () => stopAll(signal?.reason);
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await Promise.all(
        waits.map(async ({ id, stop }) => {
          try {
            const run = await waitForCompletion<T>(id, { ...rest, signal: stop.signal });
            onComplete?.(run);
            return run;
          } catch (error) {
            stopAll(error);
            throw error;
          }
        }),
      );
    } finally {
      signal?.removeEventListener('abort', onAbort);
      stopAll();
    }
  }

  return {
    runs: {
      get: <T>(id: string) => {
        checkId(id, 'run id');
        return http.request<Run<T>>('GET', `/api/v1/runs/${encodeURIComponent(id)}`);
      },
      waitForCompletion,
      waitForMany,
      cancel: <T>(id: string) => {
        checkId(id, 'run id');
        return http.request<Run<T>>('POST', `/api/v1/runs/${encodeURIComponent(id)}/cancel`);
      },
      subscribe: <T>(id: string, onRun: (run: Run<T>) => void, subscribeOptions: SubscribeOptions = {}) => {
        checkId(id, 'run id');
        return push.listen(id, {
          onRun: (run) => onRun(run as Run<T>),
          onError: (error) => subscribeOptions.onError?.(error),
        });
      },
      list: <T>(query: RunListQuery = {}) => {
        const params = new URLSearchParams();
        for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
        const search = params.toString();
        return http.request<RunPage<T>>('GET', `/api/v1/runs${search ? `?${search}` : ''}`);
      },
      timeline: async (id: string) => {
        checkId(id, 'run id');
        return (await http.request<{ data: TimelineEntry[] }>('GET', `/api/v1/runs/${encodeURIComponent(id)}/timeline`)).data;
      },
      deliveries: async (id: string) => {
        checkId(id, 'run id');
        return (await http.request<{ data: Delivery[] }>('GET', `/api/v1/runs/${encodeURIComponent(id)}/deliveries`)).data;
      },
      retryDeliveries: async (id: string) => {
        checkId(id, 'run id');
        return (await http.request<{ data: Delivery[] }>('POST', `/api/v1/runs/${encodeURIComponent(id)}/deliveries/retry`)).data;
      },
    },
    flows: {
      run: <T>(flowId: string, runOptions: FlowRunOptions) => {
        checkId(flowId, 'flow id');
        // As Doclo's SDK does: `input` always, the rest only when set.
        const body: Record<string, unknown> = { input: runOptions.input };
        if (runOptions.metadata) body.metadata = runOptions.metadata;
        if (runOptions.version) body.version = runOptions.version;
        if (runOptions.idempotencyKey) body.idempotencyKey = runOptions.idempotencyKey;
        if (runOptions.wait) body.wait = true;
        if (runOptions.timeout) body.timeout = runOptions.timeout;
        if (runOptions.webhookUrl) body.webhookUrl = runOptions.webhookUrl;
        const holdMs = runOptions.wait ? Math.min(runOptions.timeout ?? 30_000, 60_000) : 0;
        return http.request<Run<T>>('POST', `/api/v1/flows/${encodeURIComponent(flowId)}/run`, { body, holdMs });
      },
      subscribe: <T>(flowId: string, onRun: (run: Run<T>) => void, subscribeOptions: FlowSubscribeOptions = {}) => {
        if (flowId !== '*') checkId(flowId, 'flow id');
        return push.listenFlow(flowId, {
          onRun: (run) => onRun(run as Run<T>),
          onError: (error) => subscribeOptions.onError?.(error),
          onLive: () => subscribeOptions.onLive?.(),
          onLost: () => subscribeOptions.onLost?.(),
        });
      },
    },
    stats: <T>() => http.request<T>('GET', '/api/v1/stats'),
    close: () => {
      closed = true;
      push.close();
    },
  };
}
