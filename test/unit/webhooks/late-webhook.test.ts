import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryRunBus } from '../../../src/bus/memory-run-bus.js';
import { RunCache } from '../../../src/cache/run-cache.js';
import { GatewayMetrics } from '../../../src/metrics/gateway-metrics.js';
import type { RunRecord } from '../../../src/runs/run-record.js';
import { MemoryRunStore } from '../../../src/store/memory-run-store.js';
import { RunWriter } from '../../../src/tracking/run-writer.js';
import { signBody } from '../../../src/webhooks/signature-verifier.js';
import { createWebhookHandler } from '../../../src/webhooks/webhook-route.js';

const SECRET = 'late-webhook-secret';

/** The receiver tells the poll planner about final webhooks that come after a poll found the run final. */
describe('late webhooks', () => {
  let server: Server;
  let url: string;
  let writer: RunWriter;
  let late: RunRecord[];

  beforeEach(async () => {
    const logger = pino({ level: 'silent' });
    const bus = new MemoryRunBus();
    writer = new RunWriter(new MemoryRunStore(), new RunCache({ finalTtlSeconds: 60, activeTtlSeconds: 60, maxRuns: 100 }), bus, logger);
    late = [];
    const handler = createWebhookHandler({
      bodyLimitBytes: 1 << 20,
      toleranceSeconds: 0,
      secrets: () => [SECRET],
      writer,
      onLateWebhook: (record) => late.push(record),
      metrics: new GatewayMetrics(),
      logger,
    });
    server = createServer((req, res) => void handler(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/doclo`;
  });

  afterEach(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function deliver(id: string, status: string): Promise<number> {
    const body = JSON.stringify({ event: 'execution.completed', timestamp: new Date().toISOString(), data: { id, flowId: 'f', status } });
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-doclo-signature': signBody(SECRET, body) }, body });
    await response.body?.cancel();
    return response.status;
  }

  it('reports a final webhook for a run a poll already found final, not one that ended by webhook or is still running', async () => {
    await writer.apply({ id: 'exec_polled', flowId: 'f', status: 'running' }, 'request', { startedHere: true });
    await writer.apply({ id: 'exec_polled', flowId: 'f', status: 'success' }, 'poll');
    expect(await deliver('exec_polled', 'success')).toBe(200);
    expect(late.map((record) => record.run.id)).toEqual(['exec_polled']);

    // Ended by its own webhook: a redelivery is a duplicate, not late.
    await writer.apply({ id: 'exec_hooked', flowId: 'f', status: 'running' }, 'request', { startedHere: true });
    expect(await deliver('exec_hooked', 'success')).toBe(200);
    expect(await deliver('exec_hooked', 'success')).toBe(200);
    // A progress webhook after the poll's final state says nothing about the final webhook.
    await writer.apply({ id: 'exec_other', flowId: 'f', status: 'success' }, 'poll');
    expect(await deliver('exec_other', 'running')).toBe(200);
    expect(late.map((record) => record.run.id)).toEqual(['exec_polled']);
  });
});
