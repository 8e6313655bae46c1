// The upstream client against the real simulator over loopback, with faults on.
import { afterEach, describe, expect, it } from 'vitest';
import type { Execution } from '../../src/runs/run.js';
import { createSimulator, type Simulator, type SimulatorOptions } from '../../src/simulator/index.js';
import { createUpstream, UpstreamError, type Upstream, type UpstreamOptions } from '../../src/upstream/index.js';

const API_KEY = `dc_test_${'u'.repeat(50)}`;
const body = (n: number): { input: Record<string, unknown>; metadata: Record<string, unknown> } => ({
  input: { document: { base64: Buffer.from(`%PDF-1.4 doc ${n}`).toString('base64'), filename: `d${n}.pdf`, mimeType: 'application/pdf' } },
  metadata: { n },
});

describe('upstream client against the simulator', () => {
  const sims: Simulator[] = [];
  const clients: Upstream[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await Promise.all(sims.splice(0).map((sim) => sim.close()));
  });

  const simulator = async (options: SimulatorOptions): Promise<Simulator> => {
    const sim = await createSimulator({ runMs: 200, failRate: 0, seed: 7, apiKey: API_KEY, ...options });
    sims.push(sim);
    return sim;
  };
  const client = (sim: Simulator, options: Partial<UpstreamOptions> = {}): Upstream => {
    const upstream = createUpstream({ baseUrl: `${sim.url}/api/v1`, apiKey: API_KEY, baseDelayMs: 5, maxDelayMs: 50, retries: 10, ...options });
    clients.push(upstream);
    return upstream;
  };

  async function untilFinal(upstream: Upstream, id: string): Promise<Execution> {
    for (;;) {
      const run = await upstream.getRun(id, { priority: 'low' });
      if (run.status === 'success' || run.status === 'failed' || run.status === 'cancelled') return run;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it.each(['sdk', 'apiref'] as const)('runs flows to the end through injected 503s (%s vocabulary)', async (statusVocabulary) => {
    const sim = await simulator({ errorRate: 0.3, statusVocabulary, failRate: 0.3 });
    const upstream = client(sim);
    const started = await Promise.all(Array.from({ length: 8 }, (_, n) => upstream.startRun('invoice-extractor', body(n))));
    for (const run of started) expect(['queued', 'running']).toContain(run.status);
    const finished = await Promise.all(started.map((run) => untilFinal(upstream, run.id)));
    for (const [n, run] of finished.entries()) {
      expect(['success', 'failed']).toContain(run.status);
      expect(run).toMatchObject({ flowId: 'invoice-extractor', metadata: { n } });
      if (run.status === 'success') expect(run.output).toBeDefined();
      else expect(run.error).toMatchObject({ code: expect.any(String), message: expect.any(String) });
    }
    const stats = sim.stats();
    expect(stats.requests.failed).toBeGreaterThan(0); // 503s happened and were retried away
    expect(stats.runs.total).toBe(8);
    expect(upstream.rateBudget()).toMatchObject({ limit: expect.any(Number), remaining: expect.any(Number), resetAtMs: expect.any(Number) });
  });

  it('shows the apiref vocabulary normalised: pending → queued, completed → success', async () => {
    const sim = await simulator({ statusVocabulary: 'apiref' });
    const upstream = client(sim);
    const started = await upstream.startRun('flow_1', body(1));
    const rawStart = await fetch(`${sim.url}/api/v1/runs/${started.id}`, { headers: { Authorization: `Bearer ${API_KEY}` } });
    expect(['pending', 'running']).toContain(((await rawStart.json()) as { status: string }).status);
    expect(started.status).toBe('queued');
    const done = await untilFinal(upstream, started.id);
    const raw = await fetch(`${sim.url}/api/v1/runs/${started.id}`, { headers: { Authorization: `Bearer ${API_KEY}` } });
    expect(((await raw.json()) as { status: string }).status).toBe('completed');
    expect(done.status).toBe('success');
  });

  it("cancels, then passes the simulator's 409 and 404 envelopes through", async () => {
    const sim = await simulator({ runMs: 5000, errorRate: 0.2 });
    const upstream = client(sim);
    const run = await upstream.startRun('flow_1', body(1));
    expect(await upstream.cancelRun(run.id)).toMatchObject({ id: run.id, status: 'cancelled', cancelledAt: expect.any(String) });
    const again = await upstream.cancelRun(run.id).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(UpstreamError);
    expect(again).toMatchObject({ status: 409, kind: 'conflict', code: 'ALREADY_CANCELLED', retryable: false });
    await expect(upstream.getRun('exec_missing')).rejects.toMatchObject({ status: 404, kind: 'not_found', code: 'EXECUTION_NOT_FOUND' });
  });

  it('surfaces a wrong key as unauthorized after one request', async () => {
    const sim = await simulator({});
    const upstream = client(sim, { apiKey: `dc_test_${'x'.repeat(50)}` });
    await expect(upstream.getRun('exec_1')).rejects.toMatchObject({ status: 401, kind: 'unauthorized', code: 'UNAUTHORIZED', message: 'Invalid API key' });
    expect(sim.stats().requests.get).toBe(1);
  });

  it('spends the advertised window without a 429, then holds calls back instead of sending', async () => {
    const sim = await simulator({ rateLimit: 5 });
    // maxWaitMs below the simulator's 60 s window, so the budget's verdict is visible at once.
    const upstream = client(sim, { maxWaitMs: 2000 });
    const run = await upstream.startRun('flow_1', body(1));
    for (let i = 0; i < 4; i++) await upstream.getRun(run.id);
    expect(upstream.rateBudget()).toMatchObject({ limit: 5, remaining: 0 });
    const held = await upstream.getRun(run.id).catch((e: unknown) => e);
    expect(held).toMatchObject({ status: 429, kind: 'rate_limited', code: 'RATE_LIMITED' });
    expect((held as UpstreamError).retryAfterMs).toBeGreaterThan(50_000);
    expect(sim.stats().requests).toMatchObject({ run: 1, get: 4, rateLimited: 0 });

    // A second client that has not seen the headers gets the simulator's real 429 and its Retry-After.
    const unaware = client(sim, { maxWaitMs: 2000 });
    const refused = await unaware.getRun(run.id).catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 429, kind: 'rate_limited', code: 'RATE_LIMITED', details: { retryAfter: expect.any(Number) } });
    expect((refused as UpstreamError).retryAfterMs).toBeGreaterThan(50_000);
    expect(sim.stats().requests.rateLimited).toBe(1);
    // …and from then on it too waits for the window rather than sending.
    await expect(unaware.cancelRun(run.id)).rejects.toMatchObject({ kind: 'rate_limited' });
    expect(sim.stats().requests.rateLimited).toBe(1);
  });
});
