import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { httpExchange, isExchangeTimeout } from '../../../src/upstream/http-exchange.js';

let server: Server | undefined;
let connections = 0;

async function serve(listener: RequestListener): Promise<string> {
  connections = 0;
  server = createServer(listener);
  server.on('connection', () => connections++);
  await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  if (!server) return;
  server.closeAllConnections();
  await new Promise((done) => server!.close(done));
  server = undefined;
});

const never = new AbortController().signal;

describe('httpExchange', () => {
  it('reads the whole answer: status, UTF-8 split across chunks, repeated headers joined', async () => {
    const url = await serve((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        res.writeHead(201, { 'Content-Type': 'application/json', 'X-Seen': req.headers['content-length'] ?? 'none', 'X-Many': ['a', 'b'] });
        const bytes = Buffer.from(JSON.stringify({ echo: body, text: 'Grüße 文書' }));
        res.write(bytes.subarray(0, 20)); // the split falls inside a multi-byte character
        res.end(bytes.subarray(20));
      });
    });
    const answer = await httpExchange({ url: `${url}/x`, method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"é":1}' }, never, 5000);
    expect(answer.status).toBe(201);
    expect(answer.ok).toBe(true);
    expect(JSON.parse(answer.text)).toEqual({ echo: '{"é":1}', text: 'Grüße 文書' });
    expect(answer.headers.get('X-Seen')).toBe(String(Buffer.byteLength('{"é":1}')));
    expect(answer.headers.get('x-many')).toBe('a, b');
    expect(answer.headers.get('retry-after')).toBeNull();
  });

  it('keeps the connection for the next exchange', async () => {
    const url = await serve((_req, res) => res.end('{}'));
    for (let i = 0; i < 3; i++) expect((await httpExchange({ url, method: 'GET', headers: {} }, never, 5000)).ok).toBe(true);
    expect(connections).toBe(1);
  });

  it('sends again, once, on a new connection when a kept-alive one turns out closed; never for a fresh one', async () => {
    let requests = 0;
    const dropOn = new Set<number>();
    const url = await serve((req, res) => {
      requests++;
      if (dropOn.has(requests)) req.socket.destroy(); // as a server closing an idle connection would
      else res.end('{}');
    });
    expect((await httpExchange({ url, method: 'GET', headers: {} }, never, 5000)).ok).toBe(true);
    dropOn.add(2); // the reused connection is cut: one more try, on a new connection
    expect((await httpExchange({ url, method: 'POST', headers: {}, body: '{"a":1}' }, never, 5000)).ok).toBe(true);
    expect([requests, connections]).toEqual([3, 2]);
    dropOn.add(4).add(5); // cut twice: the failure surfaces
    await expect(httpExchange({ url, method: 'GET', headers: {} }, never, 5000)).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(requests).toBe(5);
    server!.closeAllConnections();
    dropOn.add(6); // a fresh connection cut: no second try
    await expect(httpExchange({ url, method: 'GET', headers: {} }, never, 5000)).rejects.toMatchObject({ code: 'ECONNRESET' });
    expect(requests).toBe(6);
  });

  it('fails an answer cut off mid-body, not as a timeout', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'Content-Length': '100' });
      res.write('{"id":');
      setTimeout(() => res.destroy(), 20);
    });
    const failure = await httpExchange({ url, method: 'GET', headers: {} }, never, 5000).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect(isExchangeTimeout(failure)).toBe(false);
  });

  it('bounds the whole exchange, the body too, and closes the connection', async () => {
    let closed = false;
    const url = await serve((req, res) => {
      res.writeHead(200);
      res.write('{'); // headers, then silence
      req.socket.on('close', () => (closed = true));
    });
    const startedMs = Date.now();
    const failure = await httpExchange({ url, method: 'GET', headers: {} }, never, 150).catch((error: unknown) => error);
    expect(isExchangeTimeout(failure)).toBe(true);
    expect(Date.now() - startedMs).toBeLessThan(2000);
    await expect.poll(() => closed).toBe(true);
  });

  it("aborts with the signal's reason, before and during the exchange", async () => {
    const url = await serve(() => undefined); // never answers
    const reason = new Error('caller gone');
    await expect(httpExchange({ url, method: 'GET', headers: {} }, AbortSignal.abort(reason), 5000)).rejects.toBe(reason);
    const controller = new AbortController();
    const pending = httpExchange({ url, method: 'GET', headers: {} }, controller.signal, 5000);
    await expect.poll(() => connections).toBe(1);
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });

  it('fails fast on a refused connection', async () => {
    const url = await serve(() => undefined);
    server!.closeAllConnections();
    await new Promise((done) => server!.close(done));
    server = undefined;
    await expect(httpExchange({ url, method: 'GET', headers: {} }, never, 5000)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
