// Test helpers for the upstream suites: a real node:http server on port 0 that records every
// request and answers through a swappable handler, a scripted fetch fake, and a log capture.
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { createLogger } from '../../../src/logger.js';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export type Handler = (req: RecordedRequest, res: ServerResponse) => void;

export interface TestServer {
  /** API base, e.g. http://127.0.0.1:PORT/api/v1 */
  baseUrl: string;
  requests: RecordedRequest[];
  handle(handler: Handler): void;
  close(): Promise<void>;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

export async function startTestServer(initial: Handler): Promise<TestServer> {
  let handler = initial;
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const recorded: RecordedRequest = {
        method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(recorded);
      handler(recorded, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/api/v1`,
    requests,
    handle(next) {
      handler = next;
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };
}

/** An execution body in either vocabulary. */
export function execution(status: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: 'exec_abc123', flowId: 'invoice-extractor', version: '1.2.0', status, createdAt: '2024-02-20T15:30:00Z', ...extra };
}

export interface FakeCall {
  url: string;
  init: RequestInit;
  atMs: number;
}

export type FakeAnswer = Response | Error | ((call: FakeCall) => Response | Promise<Response>);

/** A fetch that answers from a script (the last entry repeats) and records each call with its time. */
export function scriptedFetch(script: FakeAnswer[]): { fetch: typeof fetch; calls: FakeCall[] } {
  const calls: FakeCall[] = [];
  const fake = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const call: FakeCall = { url: typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url, init: init ?? {}, atMs: Date.now() };
    calls.push(call);
    const answer = script[Math.min(calls.length - 1, script.length - 1)];
    if (answer === undefined) throw new Error('empty script');
    if (answer instanceof Error) throw answer;
    return typeof answer === 'function' ? answer(call) : answer.clone();
  };
  return { fetch: fake, calls };
}

export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

export function errorBody(code: string, message: string, details?: Record<string, unknown>): Record<string, unknown> {
  return { error: { code, message, ...(details ? { details } : {}) } };
}

/** A debug-level pino logger whose JSON lines land in `lines`. */
export function captureLogger(): { logger: Logger; lines: () => string[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString('utf8'));
      callback();
    },
  });
  const logger = createLogger('trace', stream);
  return { logger, lines: () => chunks.join('').split('\n').filter((l) => l !== '') };
}
