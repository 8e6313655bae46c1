import { afterEach, describe, expect, it } from 'vitest';
import { createUpstream, UpstreamError, type Upstream, type UpstreamOptions, type UpstreamRequestInfo } from '../../../src/upstream/index.js';
import { captureLogger, errorBody, execution, sendJson, startTestServer, type TestServer } from './test-server.js';

const API_KEY = 'dc_test_org123_abcdefghijklmnopqrstuvwxyz1234567890';
const DOCUMENT = { document: { base64: 'JVBERi0xLjQKc2VjcmV0LWRvY3VtZW50', filename: 'invoice.pdf', mimeType: 'application/pdf' } };

let server: TestServer | undefined;
let upstream: Upstream | undefined;

afterEach(async () => {
  upstream?.close();
  upstream = undefined;
  await server?.close();
  server = undefined;
});

async function setup(handler: Parameters<typeof startTestServer>[0], options: Partial<UpstreamOptions> = {}): Promise<{ server: TestServer; upstream: Upstream }> {
  server = await startTestServer(handler);
  upstream = createUpstream({ baseUrl: server.baseUrl, apiKey: API_KEY, baseDelayMs: 1, maxDelayMs: 5, ...options });
  return { server, upstream };
}

/** Answers the listed responses in turn, then the last one forever. */
function sequence(...answers: Array<[number, unknown, Record<string, string>?]>): Parameters<typeof startTestServer>[0] {
  let i = 0;
  return (_req, res) => {
    const [status, body, headers] = answers[Math.min(i++, answers.length - 1)]!;
    if (typeof body === 'string') {
      res.writeHead(status, headers ?? {});
      res.end(body);
    } else sendJson(res, status, body, headers);
  };
}

describe('requests', () => {
  it('starts a run: POST /flows/:flowId/run with headers and the body, pending normalised to queued', async () => {
    const { server, upstream } = await setup(sequence([200, execution('pending', { metadata: { customerId: 'c1' } })]));
    const run = await upstream.startRun('invoice-extractor:v2', { input: DOCUMENT, metadata: { customerId: 'c1' }, webhookUrl: 'https://gw.example/webhooks/doclo' });
    expect(run).toMatchObject({ id: 'exec_abc123', flowId: 'invoice-extractor', status: 'queued', version: '1.2.0', metadata: { customerId: 'c1' } });
    const [req] = server.requests;
    expect(req).toMatchObject({ method: 'POST', url: '/api/v1/flows/invoice-extractor%3Av2/run' });
    expect(req!.headers).toMatchObject({ authorization: `Bearer ${API_KEY}`, accept: 'application/json', 'content-type': 'application/json' });
    const sent = JSON.parse(req!.body) as Record<string, unknown>;
    expect(sent).toMatchObject({ input: DOCUMENT, metadata: { customerId: 'c1' }, webhookUrl: 'https://gw.example/webhooks/doclo' });
    expect(sent.idempotencyKey).toEqual(expect.any(String));
  });

  it('gets a run: GET /runs/:id, completed normalised to success, output passed through', async () => {
    const { server, upstream } = await setup(sequence([200, execution('completed', { output: { total: 42 }, completedAt: '2024-02-20T15:30:05Z' })]));
    const run = await upstream.getRun('exec_abc123');
    expect(run).toMatchObject({ status: 'success', output: { total: 42 }, completedAt: '2024-02-20T15:30:05Z' });
    expect(server.requests[0]).toMatchObject({ method: 'GET', url: '/api/v1/runs/exec_abc123', body: '' });
  });

  it('cancels a run: POST /runs/:id/cancel with no body', async () => {
    const { server, upstream } = await setup(sequence([200, execution('cancelled', { cancelledAt: '2024-02-20T15:30:45Z' })]));
    const run = await upstream.cancelRun('exec_abc123');
    expect(run).toMatchObject({ status: 'cancelled', cancelledAt: '2024-02-20T15:30:45Z' });
    expect(server.requests[0]).toMatchObject({ method: 'POST', url: '/api/v1/runs/exec_abc123/cancel', body: '' });
    expect(server.requests[0]!.headers['content-type']).toBeUndefined();
  });

  it.each([['queued', 'queued'], ['running', 'running'], ['success', 'success'], ['failed', 'failed'], ['pending', 'queued'], ['completed', 'success']])(
    'normalises %s to %s', async (raw, normal) => {
      const { upstream } = await setup(sequence([200, execution(raw)]));
      expect((await upstream.getRun('exec_abc123')).status).toBe(normal);
    },
  );

  it('sends no Authorization header without a key', async () => {
    const { server, upstream } = await setup(sequence([200, execution('running')]), { apiKey: undefined });
    await upstream.getRun('exec_abc123');
    expect(server.requests[0]!.headers.authorization).toBeUndefined();
  });

  it('reports the rate budget from the last answer', async () => {
    const reset = Math.ceil(Date.now() / 1000) + 60;
    const { upstream } = await setup(sequence([200, execution('running'), { 'X-RateLimit-Limit': '100', 'X-RateLimit-Remaining': '97', 'X-RateLimit-Reset': String(reset) }]));
    expect(upstream.rateBudget()).toEqual({});
    await upstream.getRun('exec_abc123');
    expect(upstream.rateBudget()).toEqual({ limit: 100, remaining: 97, resetAtMs: reset * 1000 });
  });
});

describe('errors', () => {
  it.each([
    [400, 'INVALID_INPUT', 'bad_request'],
    [401, 'UNAUTHORIZED', 'unauthorized'],
    [402, 'INSUFFICIENT_CREDITS', 'payment_required'],
    [403, 'INSUFFICIENT_SCOPE', 'forbidden'],
    [404, 'EXECUTION_NOT_FOUND', 'not_found'],
    [409, 'ALREADY_CANCELLED', 'conflict'],
    [422, 'VALIDATION_ERROR', 'bad_request'],
  ])('%i %s is a %s error, passed through and never retried', async (status, code, kind) => {
    const details = { field: 'input.document.base64', reason: 'Invalid base64 encoding' };
    const { server, upstream } = await setup(sequence([status, errorBody(code, `message for ${code}`, details)]));
    const err = await upstream.cancelRun('exec_abc123').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({ status, code, kind, message: `message for ${code}`, details, retryable: false });
    expect((err as UpstreamError).toEnvelope()).toEqual(errorBody(code, `message for ${code}`, details));
    expect(server.requests).toHaveLength(1);
  });

  it('a start is not retried on a 4xx either', async () => {
    const { server, upstream } = await setup(sequence([422, errorBody('INVALID_DOCUMENT', 'corrupt')]));
    await expect(upstream.startRun('flow_1', { input: DOCUMENT })).rejects.toMatchObject({ kind: 'bad_request', code: 'INVALID_DOCUMENT' });
    expect(server.requests).toHaveLength(1);
  });

  it.each([[429, 'rate_limited'], [500, 'server'], [503, 'server']])('%i surfaces as %s after the retries', async (status, kind) => {
    const { server, upstream } = await setup(sequence([status, errorBody('SOME_CODE', 'busy')]), { retries: 2 });
    await expect(upstream.getRun('exec_abc123')).rejects.toMatchObject({ status, kind, code: 'SOME_CODE', message: 'busy', retryable: true });
    expect(server.requests).toHaveLength(3);
  });

  it('a non-JSON error body becomes UNKNOWN_ERROR / HTTP <status>', async () => {
    const { upstream } = await setup(sequence([502, '<html>bad gateway</html>', { 'Content-Type': 'text/html' }]), { retries: 0 });
    await expect(upstream.getRun('exec_abc123')).rejects.toMatchObject({ status: 502, kind: 'server', code: 'UNKNOWN_ERROR', message: 'HTTP 502' });
  });

  it('a 2xx that is not an execution is a bad response, not retried', async () => {
    for (const body of ['not json', { id: 'exec_1', flowId: 'f' }, { flowId: 'f', status: 'running' }, { id: 'exec_1', flowId: 'f', status: 'dreaming' }]) {
      const { server, upstream } = await setup(sequence([200, body]));
      await expect(upstream.getRun('exec_1')).rejects.toMatchObject({ kind: 'bad_response', code: 'RUNGATE_ERR_UPSTREAM_BAD_RESPONSE', status: 200 });
      expect(server.requests).toHaveLength(1);
      upstream.close();
      await server.close();
    }
    server = undefined;
  });
});

describe('retries', () => {
  it('retries 503 and 500, then answers', async () => {
    const infos: UpstreamRequestInfo[] = [];
    const { server, upstream } = await setup(
      sequence([503, errorBody('SERVICE_UNAVAILABLE', 'maintenance')], [500, errorBody('INTERNAL_ERROR', 'oops')], [200, execution('running')]),
      { onRequest: (info) => infos.push(info) },
    );
    expect((await upstream.getRun('exec_abc123')).status).toBe('running');
    expect(server.requests).toHaveLength(3);
    expect(infos.map((i) => [i.route, i.status])).toEqual([['get', 503], ['get', 500], ['get', 200]]);
  });

  it('retries a network error', async () => {
    let n = 0;
    const infos: UpstreamRequestInfo[] = [];
    const { upstream } = await setup((_req, res) => {
      if (n++ === 0) res.socket?.destroy();
      else sendJson(res, 200, execution('running'));
    }, { onRequest: (info) => infos.push(info) });
    expect((await upstream.getRun('exec_abc123')).status).toBe('running');
    expect(infos.map((i) => i.status)).toEqual(['network', 200]);
  });

  it('surfaces an unreachable upstream as a network error with status 0', async () => {
    const { server: doomed, upstream } = await setup(sequence([200, execution('running')]), { retries: 1 });
    await doomed.close();
    server = undefined;
    const err = await upstream.getRun('exec_abc123').catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 0, kind: 'network', code: 'RUNGATE_ERR_UPSTREAM_NETWORK', retryable: true });
  });

  it('times an attempt out and retries it', async () => {
    let n = 0;
    const infos: UpstreamRequestInfo[] = [];
    const { server, upstream } = await setup((_req, res) => {
      if (n++ > 0) sendJson(res, 200, execution('running'));
      // the first request is never answered
    }, { timeoutMs: 100, onRequest: (info) => infos.push(info) });
    expect((await upstream.getRun('exec_abc123')).status).toBe('running');
    expect(server.requests).toHaveLength(2);
    expect(infos.map((i) => i.status)).toEqual(['timeout', 200]);
  });

  it('surfaces a timeout with status 0 when every attempt times out', async () => {
    const { upstream } = await setup(() => undefined, { timeoutMs: 50, retries: 1 });
    await expect(upstream.getRun('exec_abc123')).rejects.toMatchObject({ status: 0, kind: 'timeout', code: 'RUNGATE_ERR_UPSTREAM_TIMEOUT', retryable: true });
  });

  it('generates an idempotency key for a start without one and reuses it on every attempt', async () => {
    const { server, upstream } = await setup(sequence([503, errorBody('X', 'x')], [502, 'bad gateway'], [200, execution('pending')]));
    const body = { input: DOCUMENT };
    await upstream.startRun('flow_1', body);
    expect(server.requests).toHaveLength(3);
    const keys = server.requests.map((r) => (JSON.parse(r.body) as { idempotencyKey: string }).idempotencyKey);
    expect(keys[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(new Set(keys).size).toBe(1);
    expect((body as { idempotencyKey?: string }).idempotencyKey).toBe(keys[0]);
  });

  it("keeps the caller's own idempotency key", async () => {
    const { server, upstream } = await setup(sequence([500, errorBody('X', 'x')], [200, execution('pending')]));
    await upstream.startRun('flow_1', { input: DOCUMENT, idempotencyKey: 'my-key-1' });
    expect(server.requests.map((r) => (JSON.parse(r.body) as { idempotencyKey: string }).idempotencyKey)).toEqual(['my-key-1', 'my-key-1']);
  });

  it('fills the flowId of a start answer that lacks one', async () => {
    const { upstream } = await setup(sequence([200, { id: 'exec_9', status: 'queued' }]));
    expect(await upstream.startRun('flow_7', { input: DOCUMENT })).toMatchObject({ id: 'exec_9', flowId: 'flow_7', status: 'queued' });
  });
});

describe('concurrency', () => {
  it('never has more than `concurrency` requests in flight', async () => {
    const held: Array<() => void> = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const { upstream } = await setup((req, res) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      held.push(() => {
        inFlight--;
        // Each answer is about the run asked: an answer about another is refused.
        sendJson(res, 200, execution('running', { id: (req.url ?? '').split('/').pop() }));
      });
    }, { concurrency: 2 });
    const settled = Promise.all(Array.from({ length: 6 }, (_, i) => upstream.getRun(`exec_${i}`)));
    let answered = 0;
    while (answered < 6) {
      await new Promise((r) => setTimeout(r, 10));
      expect(inFlight).toBeLessThanOrEqual(2);
      const next = held.shift();
      if (next) {
        next();
        answered++;
      }
    }
    expect(await settled).toHaveLength(6);
    expect(maxInFlight).toBe(2);
  });
});

describe('abort and close', () => {
  it('aborts a request in flight with the signal reason, not an upstream error', async () => {
    const { server, upstream } = await setup(() => undefined);
    const controller = new AbortController();
    const pending = upstream.getRun('exec_abc123', { signal: controller.signal });
    // In flight: the server has it (and never answers).
    while (server.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    const err = await pending.catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({ name: 'AbortError' });
  });

  it('stops retrying once the signal aborts during the backoff wait', async () => {
    const { server, upstream } = await setup(sequence([503, errorBody('X', 'x')]), { baseDelayMs: 10_000, maxDelayMs: 10_000, random: () => 0.5 });
    const controller = new AbortController();
    const pending = upstream.getRun('exec_abc123', { signal: controller.signal });
    while (server.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(server.requests).toHaveLength(1);
  });

  it('close() rejects calls waiting and in flight, and every later call', async () => {
    const { server, upstream } = await setup(() => undefined, { concurrency: 1 });
    const inFlight = upstream.getRun('exec_1');
    const queued = upstream.getRun('exec_2');
    // The first is at the server (which never answers), so the second waits for its slot.
    while (server.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    upstream.close();
    const results = await Promise.allSettled([inFlight, queued, upstream.getRun('exec_3'), upstream.startRun('f', { input: DOCUMENT })]);
    for (const result of results) {
      expect(result.status).toBe('rejected');
      expect((result as PromiseRejectedResult).reason).toMatchObject({ code: 'RUNGATE_ERR_UPSTREAM_CLOSED', status: 0, retryable: false });
    }
  });
});

describe('logging', () => {
  it('debug-logs route, status, attempt and delay, but never the key, the document or the output', async () => {
    const { logger, lines } = captureLogger();
    const { upstream } = await setup(
      sequence([503, errorBody('X', 'x')], [401, errorBody('UNAUTHORIZED', 'Invalid API key')], [200, execution('completed', { output: { secretTotal: 'OUTPUT-SECRET-9' } })]),
      { logger },
    );
    await expect(upstream.startRun('flow_1', { input: DOCUMENT })).rejects.toMatchObject({ kind: 'unauthorized' });
    await upstream.getRun('exec_abc123');
    const text = lines().join('\n');
    expect(text).not.toContain(API_KEY);
    expect(text).not.toContain('dc_test_');
    expect(text).not.toContain(DOCUMENT.document.base64);
    expect(text).not.toContain('OUTPUT-SECRET-9');
    const parsed = lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed).toContainEqual(expect.objectContaining({ msg: 'upstream retry', route: 'start', status: 503, attempt: 0, delayMs: expect.any(Number) }));
    expect(parsed).toContainEqual(expect.objectContaining({ msg: 'upstream answer', method: 'GET', route: 'get', status: 200, attempt: 0 }));
  });
});
