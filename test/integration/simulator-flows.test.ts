import { afterEach, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator } from '../../src/simulator/index.js';
import { call } from './simulator-helpers.js';

const API_KEY = `dc_test_${'k'.repeat(50)}`;

describe('simulator flows routes (contract section 7)', () => {
  const opened: Simulator[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((sim) => sim.close()));
  });
  const start = async (options: Parameters<typeof createSimulator>[0] = {}): Promise<Simulator> => {
    const sim = await createSimulator({ seed: 3, ...options });
    opened.push(sim);
    return sim;
  };

  it("lists a few fixed flows in Doclo's shapes, with X-RateLimit-* headers", async () => {
    const sim = await start();
    const answer = await call(`${sim.url}/api/v1/flows`);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-ratelimit-limit')).toMatch(/^\d+$/);
    const body = answer.body as Record<string, any>;
    expect(body).toMatchObject({ total: 3, limit: 50, offset: 0, hasMore: false });
    expect(body.flows.map((f: { id: string }) => f.id)).toEqual(['invoice-extractor', 'receipt-scanner', 'contract-analyzer']);
    expect(body.data).toEqual(body.flows);
    expect(body.flows[0]).toEqual({
      id: 'invoice-extractor', name: 'Invoice Extractor', description: expect.any(String), version: '1.2.0',
      createdAt: expect.any(String), updatedAt: expect.any(String),
    });
  });

  it('pages by offset (API reference) and by cursor (SDK)', async () => {
    const sim = await start();
    const first = (await call(`${sim.url}/api/v1/flows?limit=2`)).body as Record<string, any>;
    expect(first.flows).toHaveLength(2);
    expect(first).toMatchObject({ hasMore: true, nextCursor: '2', limit: 2 });
    const byCursor = (await call(`${sim.url}/api/v1/flows?limit=2&cursor=${first.nextCursor}`)).body as Record<string, any>;
    expect(byCursor.data.map((f: { id: string }) => f.id)).toEqual(['contract-analyzer']);
    expect(byCursor.hasMore).toBe(false);
    expect(byCursor.nextCursor).toBeUndefined();
    const byOffset = (await call(`${sim.url}/api/v1/flows?limit=1&offset=1`)).body as Record<string, any>;
    expect(byOffset.flows.map((f: { id: string }) => f.id)).toEqual(['receipt-scanner']);
    const capped = (await call(`${sim.url}/api/v1/flows?limit=500`)).body as Record<string, any>;
    expect(capped.limit).toBe(100);
    const bad = await call(`${sim.url}/api/v1/flows?cursor=abc`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('INVALID_INPUT');
  });

  it('gets one flow with its schema and config, a version of it, or 404', async () => {
    const sim = await start();
    const flow = await call(`${sim.url}/api/v1/flows/invoice-extractor`);
    expect(flow.status).toBe(200);
    expect(flow.body).toMatchObject({
      id: 'invoice-extractor', version: '1.2.0', versions: ['1.0.0', '1.1.0', '1.2.0'],
      schema: { input: { required: ['document'] }, output: { type: 'object' } },
      config: { maxFileSizeMB: 50, maxPages: 100, estimatedCreditsPerPage: 2, supportedFormats: expect.arrayContaining(['application/pdf']) },
    });
    expect((await call(`${sim.url}/api/v1/flows/invoice-extractor?version=1.0.0`)).body.version).toBe('1.0.0');
    const noVersion = await call(`${sim.url}/api/v1/flows/invoice-extractor?version=9.9.9`);
    expect(noVersion.status).toBe(404);
    expect(noVersion.body.error.code).toBe('VERSION_NOT_FOUND');
    const unknown = await call(`${sim.url}/api/v1/flows/no-such-flow`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('FLOW_NOT_FOUND');
    const wrongMethod = await call(`${sim.url}/api/v1/flows/invoice-extractor`, { method: 'DELETE' });
    expect(wrongMethod.status).toBe(405);
  });

  it('checks the API key and the rate limit on flows routes too', async () => {
    const sim = await start({ apiKey: API_KEY, rateLimit: 1 });
    expect((await call(`${sim.url}/api/v1/flows`)).status).toBe(401);
    const limited = await call(`${sim.url}/api/v1/flows`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
  });
});
