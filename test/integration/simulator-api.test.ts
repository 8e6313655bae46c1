import { afterEach, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';
import { call, runBody, waitUntil, type ApiBody } from './simulator-helpers.js';

const API_KEY = `dc_test_${'k'.repeat(50)}`;

describe('simulator API', () => {
  const opened: Simulator[] = [];
  const start = async (options: SimulatorOptions = {}): Promise<Simulator> => {
    const sim = await createSimulator({ runMs: 100, failRate: 0, ...options });
    opened.push(sim);
    return sim;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((sim) => sim.close()));
  });

  it('listens on a free port and gives a base url without a trailing slash', async () => {
    const sim = await start();
    expect(sim.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(sim.url.endsWith('/')).toBe(false);
  });

  it('runs a flow: queued, running with progress, success with output and metrics', async () => {
    const sim = await start({ runMs: 200 });
    const created = await call(`${sim.url}/api/v1/flows/invoice-extractor/run`, { body: runBody({ metadata: { customerId: 'c1' } }) });
    expect(created.status).toBe(200);
    expect(created.body).toEqual({
      id: expect.stringMatching(/^exec_[0-9a-f]+$/),
      flowId: 'invoice-extractor',
      version: '1.0.0',
      status: 'queued',
      createdAt: expect.any(String),
      metadata: { customerId: 'c1' },
    });
    const id = created.body.id;
    let sawRunning = false;
    let last: ApiBody | undefined;
    await waitUntil(async () => {
      last = (await call(`${sim.url}/api/v1/runs/${id}`)).body;
      if (last.status === 'running') {
        sawRunning = true;
        expect(last.progress).toEqual({ step: expect.any(String), percentage: expect.any(Number) });
      }
      return last.status === 'success';
    });
    expect(sawRunning).toBe(true);
    expect(last).toMatchObject({
      id,
      status: 'success',
      completedAt: expect.any(String),
      duration: expect.any(Number),
      metadata: { customerId: 'c1' },
      output: { invoiceNumber: expect.any(String), document: { bytes: 14, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) } },
      metrics: {
        durationMs: expect.any(Number),
        pageCount: 1,
        creditsUsed: expect.any(Number),
        tokensUsed: expect.any(Number),
        cost: expect.any(Number),
        stepsRun: 3,
        stepsTotal: 3,
      },
    });
    expect(last!.progress).toBeUndefined();
    expect(last!.duration).toBeGreaterThanOrEqual(100);
  });

  it('gives the same output for the same document bytes', async () => {
    const sim = await start({ runMs: 20 });
    const a = await call(`${sim.url}/api/v1/flows/f/run`, { body: runBody({ wait: true }, 'same') });
    const b = await call(`${sim.url}/api/v1/flows/g/run`, { body: runBody({ wait: true }, 'same') });
    const c = await call(`${sim.url}/api/v1/flows/f/run`, { body: runBody({ wait: true }, 'other') });
    expect(a.body.output).toEqual(b.body.output);
    expect(a.body.output).not.toEqual(c.body.output);
  });

  it('ends runs failed with EXTRACTION_FAILED at failRate 1', async () => {
    const sim = await start({ runMs: 20, failRate: 1 });
    const done = await call(`${sim.url}/api/v1/flows/f/run`, { body: runBody({ wait: true }) });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ status: 'failed', error: { code: 'EXTRACTION_FAILED', step: 'extract' }, completedAt: expect.any(String) });
    expect(done.body.output).toBeUndefined();
  });

  it('speaks pending/completed with the apiref vocabulary', async () => {
    const sim = await start({ runMs: 20, statusVocabulary: 'apiref' });
    const created = await call(`${sim.url}/api/v1/flows/f/run`, { body: runBody({ version: '1.2.0' }) });
    expect(created.body).toMatchObject({ status: 'pending', version: '1.2.0' });
    const done = await call(`${sim.url}/api/v1/flows/f/run`, { body: runBody({ wait: true }) });
    expect(done.body.status).toBe('completed');
  });

  it('answers validation errors in the envelope with details', async () => {
    const sim = await start();
    const url = `${sim.url}/api/v1/flows/f/run`;
    const notJson = await call(url, { body: '{"input":' });
    expect(notJson.status).toBe(400);
    expect(notJson.body).toEqual({ error: { code: 'INVALID_INPUT', message: expect.any(String) } });
    const missing = await call(url, { body: { input: { document: {} } } });
    expect(missing.status).toBe(422);
    expect(missing.body.error).toMatchObject({ code: 'MISSING_REQUIRED_FIELD', details: { field: 'input.document.base64', reason: 'Required' } });
    const badB64 = await call(url, { body: { input: { document: { base64: '***' } } } });
    expect(badB64.status).toBe(422);
    expect(badB64.body.error).toMatchObject({
      code: 'VALIDATION_ERROR',
      details: { field: 'input.document.base64', reason: 'Invalid base64 encoding' },
    });
    const svg = await call(url, { body: { input: { document: { base64: 'PHN2Zy8+', mimeType: 'image/svg+xml' } } } });
    expect(svg.status).toBe(422);
    expect(svg.body.error).toMatchObject({ code: 'INVALID_DOCUMENT', details: { supported: expect.arrayContaining(['application/pdf']) } });
    const dataUrl = await call(url, { body: { input: { document: { base64: `data:image/jpeg;base64,${Buffer.from('jpg').toString('base64')}` } } } });
    expect(dataUrl.status).toBe(200);
    expect(sim.stats().runs.total).toBe(1);
  });

  it('answers 413 in the envelope for a body over the limit, on a connection that stays usable', async () => {
    const sim = await start({ bodyLimitBytes: 1000 });
    const big = await call(`${sim.url}/api/v1/flows/f/run`, { body: runBody({}, 'x'.repeat(5000)) });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('PAYLOAD_TOO_LARGE');
    expect((await call(`${sim.url}/api/v1/flows/f/run`, { body: runBody() })).status).toBe(200);
  });

  it('answers 404 EXECUTION_NOT_FOUND, 404 for unknown routes and 405 for wrong methods, all in the envelope', async () => {
    const sim = await start();
    const missing = await call(`${sim.url}/api/v1/runs/exec_nope`);
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ error: { code: 'EXECUTION_NOT_FOUND', message: expect.any(String) } });
    const route = await call(`${sim.url}/api/v2/whatever`);
    expect(route.status).toBe(404);
    expect(route.body.error.code).toBe('NOT_FOUND');
    const method = await call(`${sim.url}/api/v1/runs/exec_x`, { method: 'DELETE' });
    expect(method.status).toBe(405);
    expect(method.body.error.code).toBe('METHOD_NOT_ALLOWED');
    for (const answer of [missing, route, method]) expect(answer.headers.get('x-ratelimit-limit')).not.toBeNull();
  });

  it('requires the API key when one is set: both 401 messages', async () => {
    const sim = await start({ apiKey: API_KEY });
    const none = await call(`${sim.url}/api/v1/runs/exec_x`);
    expect(none.status).toBe(401);
    expect(none.body).toEqual({ error: { code: 'UNAUTHORIZED', message: 'Missing authorization header' } });
    const wrong = await call(`${sim.url}/api/v1/runs/exec_x`, { headers: { authorization: 'Bearer dc_test_wrong' } });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({ error: { code: 'UNAUTHORIZED', message: 'Invalid API key' } });
    const right = await call(`${sim.url}/api/v1/runs/exec_x`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(right.status).toBe(404);
  });

  it('de-duplicates by idempotency key and refuses a reused key with a different body', async () => {
    const sim = await start({ runMs: 50 });
    const url = `${sim.url}/api/v1/flows/f/run`;
    const first = await call(url, { body: runBody({ idempotencyKey: 'key-1' }) });
    const again = await call(url, { body: runBody({ idempotencyKey: 'key-1' }) });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    await waitUntil(async () => (await call(`${sim.url}/api/v1/runs/${first.body.id}`)).body.status === 'success');
    const later = await call(url, { body: runBody({ idempotencyKey: 'key-1' }) });
    expect(later.body).toMatchObject({ id: first.body.id, status: 'success' });
    const conflict = await call(url, { body: runBody({ idempotencyKey: 'key-1', metadata: { x: 1 } }) });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.code).toBe('IDEMPOTENCY_KEY_CONFLICT');
    expect(sim.stats().runs.total).toBe(1);
  });

  it('cancels: 200 cancelled, 409 ALREADY_CANCELLED, 409 NOT_CANCELLABLE, 404', async () => {
    const sim = await start({ runMs: 5000 });
    const run = await call(`${sim.url}/api/v1/flows/f/run`, { body: runBody() });
    const cancelled = await call(`${sim.url}/api/v1/runs/${run.body.id}/cancel`, { method: 'POST' });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ id: run.body.id, status: 'cancelled', cancelledAt: expect.any(String) });
    expect((await call(`${sim.url}/api/v1/runs/${run.body.id}`)).body.status).toBe('cancelled');
    const twice = await call(`${sim.url}/api/v1/runs/${run.body.id}/cancel`, { method: 'POST' });
    expect(twice.status).toBe(409);
    expect(twice.body.error.code).toBe('ALREADY_CANCELLED');

    const fast = await createSimulator({ runMs: 10, failRate: 0 });
    opened.push(fast);
    const done = await call(`${fast.url}/api/v1/flows/f/run`, { body: runBody({ wait: true }) });
    const late = await call(`${fast.url}/api/v1/runs/${done.body.id}/cancel`, { method: 'POST' });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('NOT_CANCELLABLE');
    const unknown = await call(`${fast.url}/api/v1/runs/exec_nope/cancel`, { method: 'POST' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('EXECUTION_NOT_FOUND');
  });

  it('rate limits with 429, Retry-After and X-RateLimit-* on every answer', async () => {
    const sim = await start({ rateLimit: 3 });
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await call(`${sim.url}/api/v1/runs/exec_${i}`));
    expect(answers.map((a) => a.status)).toEqual([404, 404, 404, 429, 429]);
    expect(answers.map((a) => a.headers.get('x-ratelimit-remaining'))).toEqual(['2', '1', '0', '0', '0']);
    const nowSeconds = Date.now() / 1000;
    for (const answer of answers) {
      expect(answer.headers.get('x-ratelimit-limit')).toBe('3');
      const reset = Number(answer.headers.get('x-ratelimit-reset'));
      expect(reset).toBeGreaterThan(nowSeconds);
      expect(reset).toBeLessThanOrEqual(nowSeconds + 61);
    }
    const limited = answers[3]!;
    expect(limited.body).toEqual({ error: { code: 'RATE_LIMITED', message: expect.any(String), details: { retryAfter: expect.any(Number) } } });
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Stats are neither counted nor limited.
    const stats = await call(`${sim.url}/_sim/stats`);
    expect(stats.status).toBe(200);
    expect(stats.body.requests).toEqual({ run: 0, get: 5, cancel: 0, rateLimited: 2, failed: 0 });
  });

  it('leaves starts out of the rate limit when told to, and still limits lookups', async () => {
    const sim = await start({ rateLimit: 2, rateLimitExemptStarts: true });
    const starts = [];
    for (let i = 0; i < 4; i++) starts.push(await call(`${sim.url}/api/v1/flows/f/run`, { method: 'POST', body: runBody({}, `doc ${i}`) }));
    expect(starts.map((a) => a.status)).toEqual([200, 200, 200, 200]);
    expect(starts.map((a) => a.headers.get('x-ratelimit-remaining'))).toEqual(['2', '2', '2', '2']);
    const lookups = [];
    for (let i = 0; i < 3; i++) lookups.push(await call(`${sim.url}/api/v1/runs/exec_${i}`));
    expect(lookups.map((a) => a.status)).toEqual([404, 404, 429]);
    // A start in a spent window still goes through, and shows the window as it is.
    const late = await call(`${sim.url}/api/v1/flows/f/run`, { method: 'POST', body: runBody({}, 'late') });
    expect(late.status).toBe(200);
    expect(late.headers.get('x-ratelimit-remaining')).toBe('0');
    const stats = await call(`${sim.url}/_sim/stats`);
    expect(stats.body.requests).toEqual({ run: 5, get: 3, cancel: 0, rateLimited: 1, failed: 0 });
  });

  it('advertises a large limit when there is none', async () => {
    const sim = await start();
    const answer = await call(`${sim.url}/api/v1/runs/exec_x`);
    expect(Number(answer.headers.get('x-ratelimit-limit'))).toBeGreaterThanOrEqual(1_000_000);
    expect(answer.headers.get('x-ratelimit-remaining')).not.toBeNull();
    expect(answer.headers.get('x-ratelimit-reset')).toMatch(/^\d+$/);
  });

  it('answers the error-rate share with 503 SERVICE_UNAVAILABLE', async () => {
    const all = await start({ errorRate: 1 });
    const answer = await call(`${all.url}/api/v1/flows/f/run`, { body: runBody() });
    expect(answer.status).toBe(503);
    expect(answer.body.error.code).toBe('SERVICE_UNAVAILABLE');
    expect(answer.headers.get('x-ratelimit-limit')).not.toBeNull();
    expect(all.stats().requests).toMatchObject({ run: 1, failed: 1 });
    expect(all.stats().runs.total).toBe(0);

    const half = await start({ errorRate: 0.5, seed: 11 });
    let failures = 0;
    for (let i = 0; i < 40; i++) if ((await call(`${half.url}/api/v1/runs/exec_x`)).status === 503) failures++;
    expect(failures).toBeGreaterThan(5);
    expect(failures).toBeLessThan(35);
    expect(half.stats().requests.failed).toBe(failures);
  });

  it('wait:true returns the finished run, or 504 EXECUTION_TIMEOUT while the run goes on', async () => {
    const sim = await start({ runMs: 100 });
    const url = `${sim.url}/api/v1/flows/f/run`;
    const done = await call(url, { body: runBody({ wait: true, timeout: 5000 }) });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ status: 'success', output: expect.any(Object) });

    const slow = await start({ runMs: 1000 });
    const timedOut = await call(`${slow.url}/api/v1/flows/f/run`, { body: runBody({ wait: true, timeout: 50 }) });
    expect(timedOut.status).toBe(504);
    expect(timedOut.body.error).toMatchObject({ code: 'EXECUTION_TIMEOUT', details: { executionId: expect.stringMatching(/^exec_/) } });
    const id = timedOut.body.error.details.executionId as string;
    await waitUntil(async () => (await call(`${slow.url}/api/v1/runs/${id}`)).body.status === 'success', 5000);
  });

  it('answers a held wait:true request when closed', async () => {
    const sim = await createSimulator({ runMs: 60_000 });
    const pending = call(`${sim.url}/api/v1/flows/f/run`, { body: runBody({ wait: true, timeout: 60_000 }) });
    await waitUntil(() => sim.stats().runs.total === 1);
    await sim.close();
    expect((await pending).status).toBe(503);
  });

  it('repeats ids and outcomes for the same seed', async () => {
    const outcomes = async (seed: number): Promise<string[]> => {
      const sim = await start({ runMs: 20, failRate: 0.5, seed });
      const result: string[] = [];
      for (let i = 0; i < 8; i++) {
        const done = await call(`${sim.url}/api/v1/flows/f/run`, { body: runBody({ wait: true }, `doc ${i}`) });
        result.push(`${done.body.id}:${done.body.status}:${String(done.body.metrics.durationMs! > 0)}`);
      }
      return result;
    };
    const a = await outcomes(1234);
    const b = await outcomes(1234);
    const c = await outcomes(999);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(new Set(a.map((entry) => entry.split(':')[1]))).toEqual(new Set(['success', 'failed']));
  });

  it('serves exact stats', async () => {
    const sim = await start({ runMs: 20 });
    const run = await call(`${sim.url}/api/v1/flows/f/run`, { body: runBody({ wait: true }) });
    await call(`${sim.url}/api/v1/runs/${run.body.id}`);
    await call(`${sim.url}/api/v1/runs/exec_unknown`);
    await call(`${sim.url}/api/v1/runs/${run.body.id}/cancel`, { method: 'POST' });
    await call(`${sim.url}/api/v1/flows/f/run`, { body: '{bad' });
    const stats = await call(`${sim.url}/_sim/stats`);
    expect(stats.body).toEqual({
      requests: { run: 2, get: 2, cancel: 1, rateLimited: 0, failed: 0 },
      webhooks: { sent: 0, dropped: 0, duplicated: 0, failed: 0 },
      runs: { total: 1, terminal: 1 },
    });
    expect(sim.stats()).toEqual(stats.body);
  });
});
