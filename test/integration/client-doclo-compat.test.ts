import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/gateway-harness.js';

// Doclo's own client (@doclo/client) pointed at the gateway: this reproduces its wire behaviour
// (doclo-api.md §10) with plain fetch, exactly as its SDK sends it.
const API_KEY = `dc_test_${'k'.repeat(50)}`;
const FINAL = new Set(['success', 'failed', 'cancelled']);

async function docloFetch(baseUrl: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${baseUrl}/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json', Accept: 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const parsed = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${JSON.stringify(parsed)}`);
  return parsed;
}

/** The SDK's runs.waitForCompletion: GET, return if final, else sleep `interval` and repeat. */
async function docloWaitForCompletion(baseUrl: string, id: string, interval = 1000, timeout = 300_000): Promise<{ run: Record<string, unknown>; gets: number }> {
  const startedAt = Date.now();
  let gets = 0;
  for (;;) {
    const run = await docloFetch(baseUrl, 'GET', `/runs/${encodeURIComponent(id)}`);
    gets += 1;
    if (FINAL.has(run.status as string)) return { run, gets };
    if (Date.now() - startedAt > timeout) throw new Error(`Execution ${id} did not complete within ${timeout}ms`);
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

describe("Doclo's own client pointed at the gateway", () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await startStack({ sim: { runMs: 2_500, failRate: 0, seed: 12 } });
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('runs and waits by 1-s polling, answered from the gateway: zero upstream GETs for the run', async () => {
    // The SDK's flows.run: `input` always, the rest only when set.
    const started = await docloFetch(stack.url, 'POST', '/flows/invoice-extractor/run', {
      input: { document: { base64: Buffer.from('%PDF-1.4 sdk').toString('base64'), filename: 'a.pdf', mimeType: 'application/pdf' } },
      metadata: { via: 'doclo-sdk' },
      idempotencyKey: 'doclo-compat-1',
    });
    expect(started.id).toEqual(expect.stringMatching(/^exec_/));
    const upstreamGetsBefore = stack.sim.stats().requests.get;
    const { run, gets } = await docloWaitForCompletion(stack.url, started.id as string);
    expect(run.status).toBe('success');
    expect(run.metadata).toEqual({ via: 'doclo-sdk' });
    expect(gets).toBeGreaterThan(1);
    // Webhooks on: the gateway learnt the end by webhook and answered every poll itself.
    expect(stack.sim.stats().requests.get).toBe(upstreamGetsBefore);
  });
});
