import http from 'node:http';
import https from 'node:https';
import { parseRetryAfter } from '../upstream/index.js';
import { BlockedAddressError, literalHostBlocked, pinnedLookup, type Resolver } from './outbound-guard.js';

/** What one attempt came to. */
export type AttemptOutcome =
  | { kind: 'delivered'; status: number }
  /** 410 Gone: the receiver says never again. */
  | { kind: 'gone'; status: number }
  /** Any other answer: tried again, not before `retryAfterMs` when the receiver said so. */
  | { kind: 'refused'; status: number; retryAfterMs?: number }
  | { kind: 'timeout' }
  | { kind: 'network'; error: string }
  /** The host is, or resolved to, an address deliveries may not reach: never contacted. */
  | { kind: 'blocked' };

export interface DeliverySenderOptions {
  /** The whole attempt (connect, answer, body) must fit in this. */
  timeoutMs: number;
  allowPrivate: boolean;
  /** Bytes of an answer's body that are read (then the socket is dropped rather than drained). */
  maxAnswerBytes?: number;
  /** Name resolution (the system's by default; tests give their own names). */
  resolve?: Resolver;
}

const DEFAULT_MAX_ANSWER_BYTES = 64 * 1024;

/**
 * Sends one webhook attempt. Sockets come from keep-alive agents whose every new connection
 * resolves through the pinned lookup (outbound-guard.ts), so the address checked is the address
 * connected to. Redirects are not followed (a 3xx is an answer like any non-2xx).
 */
export class DeliverySender {
  private readonly agents: { http: http.Agent; https: https.Agent };
  private readonly maxAnswerBytes: number;

  constructor(private readonly options: DeliverySenderOptions) {
    const lookup = pinnedLookup(options.allowPrivate, options.resolve);
    this.agents = {
      http: new http.Agent({ keepAlive: true, lookup }),
      https: new https.Agent({ keepAlive: true, lookup }),
    };
    this.maxAnswerBytes = options.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES;
  }

  send(target: string, body: string, headers: Record<string, string>): Promise<AttemptOutcome> {
    const url = new URL(target);
    if (literalHostBlocked(url, this.options.allowPrivate)) return Promise.resolve({ kind: 'blocked' });
    const secure = url.protocol === 'https:';
    const transport = secure ? https : http;
    return new Promise((resolve) => {
      let settled = false;
      const finish = (outcome: AttemptOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(outcome);
      };
      const request = transport.request(
        url,
        {
          method: 'POST',
          agent: secure ? this.agents.https : this.agents.http,
          headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        },
        (response) => {
          const status = response.statusCode ?? 0;
          let read = 0;
          response.on('data', (chunk: Buffer) => {
            read += chunk.length;
            if (read > this.maxAnswerBytes) response.destroy();
          });
          const done = () => finish(outcomeOf(status, response.headers['retry-after']));
          response.once('end', done);
          // A body cut off (too long, or the receiver closed) does not change what the status said.
          response.once('close', done);
          response.once('error', done);
        },
      );
      const timer = setTimeout(() => {
        finish({ kind: 'timeout' });
        request.destroy();
      }, this.options.timeoutMs);
      timer.unref();
      request.once('error', (error: NodeJS.ErrnoException) => {
        if (error instanceof BlockedAddressError) finish({ kind: 'blocked' });
        else finish({ kind: 'network', error: error.code ?? error.message });
      });
      request.end(body);
    });
  }

  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}

function outcomeOf(status: number, retryAfter: string | string[] | undefined): AttemptOutcome {
  if (status >= 200 && status < 300) return { kind: 'delivered', status };
  if (status === 410) return { kind: 'gone', status };
  const header = Array.isArray(retryAfter) ? retryAfter[0] : retryAfter;
  const retryAfterMs = parseRetryAfter(header ?? null, Date.now());
  return retryAfterMs === undefined ? { kind: 'refused', status } : { kind: 'refused', status, retryAfterMs };
}
