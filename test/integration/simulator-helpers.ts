import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Base64 of a small PDF-looking document. */
export const pdfBase64 = (text = 'hello'): string => Buffer.from(`%PDF-1.4 ${text}`).toString('base64');

/** A run request body with a document and any extra fields. */
export const runBody = (extra: Record<string, unknown> = {}, text?: string): Record<string, unknown> => ({
  input: { document: { base64: pdfBase64(text), filename: 'a.pdf', mimeType: 'application/pdf' } },
  ...extra,
});

/** The fields tests read from a simulator answer (a run, an error envelope or stats); assertions check the rest. */
export interface ApiBody {
  id: string;
  status: string;
  error: { code: string; message: string; details: Record<string, unknown> };
  output: Record<string, unknown>;
  metrics: Record<string, number>;
  requests: Record<string, number>;
  [field: string]: unknown;
}

export interface JsonAnswer {
  status: number;
  headers: Headers;
  body: ApiBody;
}

/** One HTTP call; the body is sent as JSON unless it is already a string. */
export async function call(url: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<JsonAnswer> {
  const response = await fetch(url, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { 'content-type': 'application/json', ...init.headers },
    ...(init.body === undefined ? {} : { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text === '' ? {} : JSON.parse(text)) as ApiBody };
}

/** Polls `check` every 10 ms until it returns true or `timeoutMs` passes. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export interface Delivery {
  headers: IncomingHttpHeaders;
  raw: Buffer;
  at: number;
}

export interface Receiver {
  url: string;
  deliveries: Delivery[];
  close(): Promise<void>;
}

/** A webhook receiver on port 0 that records raw bodies; `status(n)` picks the answer to the n-th POST. */
export async function startReceiver(status: (n: number) => number = () => 200): Promise<Receiver> {
  const deliveries: Delivery[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      deliveries.push({ headers: req.headers, raw: Buffer.concat(chunks), at: Date.now() });
      res.writeHead(status(deliveries.length)).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    deliveries,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
