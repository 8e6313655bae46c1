import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson, startBody, startStack, type Stack } from '../support/gateway-harness.js';
import { docloClient, SdkError } from '../support/doclo-sdk-requests.js';

// Doclo's own client (@doclo/client) pointed at the gateway: its requests, re-created with fetch
// from doclo-api.md §10 (see test/support/doclo-sdk-requests.ts), method by method.
const API_KEY = `dc_test_${'k'.repeat(50)}`;
const document = { base64: Buffer.from('%PDF-1.4 sdk').toString('base64'), filename: 'a.pdf', mimeType: 'application/pdf' };

/** The SdkError a call rejects with. */
async function failure(promise: Promise<unknown>): Promise<SdkError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(SdkError);
  return error as SdkError;
}

describe("Doclo's own client pointed at the gateway", () => {
  let stack: Stack;
  let doclo: ReturnType<typeof docloClient>;

  beforeAll(async () => {
    stack = await startStack({ sim: { runMs: 2_500, failRate: 0, seed: 12 } });
    doclo = docloClient(stack.url, API_KEY);
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('runs and waits by 1-s polling, answered from the gateway: zero upstream GETs for the run', async () => {
    // The SDK's flows.run: `input` always, the rest only when set.
    const started = await doclo.flows.run('invoice-extractor', { input: { document }, metadata: { via: 'doclo-sdk' }, idempotencyKey: 'doclo-compat-1' });
    expect(started.id).toEqual(expect.stringMatching(/^exec_/));
    const upstreamGetsBefore = stack.sim.stats().requests.get;
    const { run, gets } = await doclo.runs.waitForCompletion(started.id as string);
    expect(run.status).toBe('success');
    expect(run.metadata).toEqual({ via: 'doclo-sdk' });
    expect(gets).toBeGreaterThan(1);
    // Webhooks on: the gateway learnt the end by webhook and answered every poll itself.
    expect(stack.sim.stats().requests.get).toBe(upstreamGetsBefore);
  });

  it('flows.run with the same idempotencyKey (a body field) answers the same run', async () => {
    const first = await doclo.flows.run('invoice-extractor', { input: { document }, idempotencyKey: 'doclo-compat-same' });
    const again = await doclo.flows.run('invoice-extractor', { input: { document }, idempotencyKey: 'doclo-compat-same' });
    expect(again.id).toBe(first.id);
  });

  it('flows.run with wait:true answers the finished run; past its timeout the SDK gets 504 EXECUTION_TIMEOUT naming the run', async () => {
    const done = await doclo.flows.run('invoice-extractor', { input: { document }, wait: true, timeout: 20_000 });
    expect(done).toMatchObject({ status: 'success', output: expect.any(Object) });
    const timedOut = await failure(doclo.flows.run('invoice-extractor', { input: { document }, wait: true, timeout: 100 }));
    expect(timedOut).toMatchObject({ className: 'DocloError', code: 'EXECUTION_TIMEOUT', statusCode: 504 });
    const id = timedOut.details?.executionId as string;
    expect(id).toMatch(/^exec_/);
    // The run goes on; the SDK can find it and wait for it.
    expect((await doclo.runs.get(id)).id).toBe(id);
  });

  it('runs.waitForCompletion past its timeout throws TimeoutError while the run goes on, and can be called again', async () => {
    const started = await doclo.flows.run('invoice-extractor', { input: { document } });
    const timedOut = await failure(doclo.runs.waitForCompletion(started.id as string, { interval: 100, timeout: 200 }));
    expect(timedOut).toMatchObject({ className: 'TimeoutError', code: 'TIMEOUT' });
    const { run } = await doclo.runs.waitForCompletion(started.id as string, { interval: 200 });
    expect(run.status).toBe('success');
  });

  it('runs.get of an unknown run is a NotFoundError (404 EXECUTION_NOT_FOUND)', async () => {
    const missing = await failure(doclo.runs.get('exec_does_not_exist'));
    expect(missing).toMatchObject({ className: 'NotFoundError', code: 'EXECUTION_NOT_FOUND', statusCode: 404 });
  });

  it("runs.cancel resolves; Doclo's 409s (ALREADY_CANCELLED, NOT_CANCELLABLE) reach the SDK as they are", async () => {
    const running = await doclo.flows.run('invoice-extractor', { input: { document } });
    await expect(doclo.runs.cancel(running.id as string)).resolves.toBeUndefined();
    expect((await doclo.runs.get(running.id as string)).status).toBe('cancelled');
    const again = await failure(doclo.runs.cancel(running.id as string));
    expect(again).toMatchObject({ className: 'DocloError', code: 'ALREADY_CANCELLED', statusCode: 409 });
    const finished = await doclo.flows.run('invoice-extractor', { input: { document }, wait: true, timeout: 20_000 });
    const late = await failure(doclo.runs.cancel(finished.id as string));
    expect(late).toMatchObject({ className: 'DocloError', code: 'NOT_CANCELLABLE', statusCode: 409 });
  });

  it('flows.list and flows.get go through to Doclo (pass-through) and come back in its shapes', async () => {
    const page = await doclo.flows.list({ limit: 2 });
    expect(page.data.map((flow) => flow.id)).toEqual(['invoice-extractor', 'receipt-scanner']);
    expect(page).toMatchObject({ hasMore: true, nextCursor: expect.any(String) });
    const rest = await doclo.flows.list({ limit: 2, cursor: page.nextCursor! });
    expect(rest).toMatchObject({ hasMore: false });
    expect(rest.data.map((flow) => flow.id)).toEqual(['contract-analyzer']);
    expect((await doclo.flows.list()).data).toHaveLength(3);
    expect(await doclo.flows.get('invoice-extractor')).toMatchObject({ id: 'invoice-extractor', version: '1.2.0', schema: expect.any(Object) });
    expect(await doclo.flows.get('invoice-extractor', '1.0.0')).toMatchObject({ version: '1.0.0' });
    const unknown = await failure(doclo.flows.get('no-such-flow'));
    expect(unknown).toMatchObject({ className: 'NotFoundError', code: 'FLOW_NOT_FOUND', statusCode: 404 });
    const badVersion = await failure(doclo.flows.get('invoice-extractor', '9.9.9'));
    expect(badVersion).toMatchObject({ className: 'NotFoundError', code: 'VERSION_NOT_FOUND' });
  });
});

describe("Doclo's own client and rate limits", () => {
  const stacks: Stack[] = [];
  afterAll(async () => {
    await Promise.all(stacks.map((s) => s.close()));
  });

  it("the gateway's own limit: a RateLimitError whose rateLimitInfo the SDK can read", async () => {
    const stack = await startStack({ args: ['--rate-limit-per-ip', '3'] });
    stacks.push(stack);
    const doclo = docloClient(stack.url, API_KEY);
    for (let i = 0; i < 3; i++) await failure(doclo.runs.get(`exec_unknown_${i}`));
    const limited = await failure(doclo.runs.get('exec_unknown_4'));
    expect(limited).toMatchObject({ className: 'RateLimitError', code: 'RATE_LIMIT_EXCEEDED', statusCode: 429 });
    expect(limited.rateLimitInfo).toEqual({ limit: 3, remaining: 0, reset: expect.any(Number), retryAfter: expect.any(Number) });
  });

  it("Doclo's 429 on a start reaches the SDK at once, as a RateLimitError with Doclo's rateLimitInfo", async () => {
    const stack = await startStack({ sim: { runMs: 30_000, rateLimit: 2 } });
    stacks.push(stack);
    // Another client of the same Doclo account spends the window.
    for (let i = 0; i < 2; i++) expect((await postJson(`${stack.sim.url}/api/v1/flows/other/run`, startBody())).status).toBe(200);
    const doclo = docloClient(stack.url, API_KEY);
    const sentAt = Date.now();
    const limited = await failure(doclo.flows.run('invoice-extractor', { input: { document } }));
    expect(Date.now() - sentAt).toBeLessThan(1500);
    expect(limited).toMatchObject({ className: 'RateLimitError', statusCode: 429 });
    expect(limited.rateLimitInfo).toMatchObject({ limit: 2, remaining: 0 });
    expect(limited.rateLimitInfo!.retryAfter).toBeGreaterThan(2);
    expect(stack.sim.stats().runs.total).toBe(2);
  });
});
