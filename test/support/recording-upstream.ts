import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a RecordingUpstream received. */
export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** Chunks of the body as they arrived. */
  chunks: Buffer[];
  ended: boolean;
}

/** A stand-in for Doclo on port 0 that records every request and lets the test answer it. */
export interface RecordingUpstream {
  baseUrl: string;
  received: Received[];
  close(): Promise<void>;
}

export async function startRecordingUpstream(answer: (req: IncomingMessage, res: ServerResponse, received: Received) => void): Promise<RecordingUpstream> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const entry: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, chunks: [], ended: false };
    received.push(entry);
    req.on('data', (chunk: Buffer) => entry.chunks.push(chunk));
    req.on('end', () => {
      entry.ended = true;
    });
    answer(req, res, entry);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/api/v1`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A raw HTTP/1.1 request: the path goes out exactly as written (a URL object would resolve
 * `%2e%2e` segments first) and hop-by-hop headers such as Connection are allowed (fetch refuses them).
 */
export function rawRequest(url: string, options: { method?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  const match = /^http:\/\/([^/:]+):(\d+)(\/.*)$/.exec(url);
  if (!match) throw new Error(`not an http URL with a path: ${url}`);
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: match[1], port: Number(match[2]), path: match[3], method: options.method ?? 'GET', headers: options.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    outgoing.on('error', reject);
    outgoing.end(options.body);
  });
}
