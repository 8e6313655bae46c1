import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket as NodeWebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Run, type RungateClient } from '../../src/client/index.js';
import { loadServeConfig } from '../../src/config/serve-config.js';
import { startGateway, type Gateway } from '../../src/gateway.js';
import { createSimulator, type Simulator } from '../../src/simulator/index.js';
import { eventually, metricValue } from '../support/gateway-harness.js';
import { testLogger } from '../support/test-logs.js';

const DOCUMENT = { base64: Buffer.from('%PDF-1.4 restart').toString('base64'), mimeType: 'application/pdf' };

describe('rungate client across a gateway restart', () => {
  let sim: Simulator;
  let gateway: Gateway | undefined;
  let client: RungateClient | undefined;
  let dir = '';
  let sockets = 0;

  // A SQLite file outlives the first gateway, so the second one continues each run's seq.
  const start = (port: number) =>
    startGateway(
      {
        ...loadServeConfig(
          ['--port', String(port), '--store', `sqlite:${join(dir, 'rungate.db')}`, '--upstream-url', `${sim.url}/api/v1`, '--webhook-secret', sim.webhookSecret, '--log-level', 'silent'],
          {},
        ),
        simulate: false,
      },
      testLogger('gateway'),
    );

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rungate-client-restart-'));
    sim = await createSimulator({ runMs: 2_500, failRate: 0, seed: 11 });
  });
  afterAll(async () => {
    client?.close();
    await gateway?.close();
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a wait survives the gateway being closed and restarted on the same port', async () => {
    gateway = await start(0);
    const port = Number(new URL(gateway.url).port);
    class Counting extends NodeWebSocket {
      constructor(url: string) {
        super(url);
        sockets += 1;
      }
    }
    client = createClient({ url: gateway.url, WebSocket: Counting, reconnect: { initialDelayMs: 200, maxDelayMs: 1_000 } });
    const started = await client.flows.run('invoice-extractor', { input: { document: DOCUMENT } });
    const seen: Run[] = [];
    const unsubscribe = client.runs.subscribe(started.id, (run) => seen.push(run));
    const waiting = client.runs.waitForCompletion(started.id, { timeout: 25_000 });
    await eventually(() => seen.length > 0, 10_000);
    expect(seen.at(-1)?.status).toBe('queued'); // the run ends only after the restart

    await gateway.close();
    gateway = undefined;
    // Back only once the client has tried to reconnect and met the closed port.
    await eventually(() => sockets >= 2, 10_000);
    gateway = await start(port);

    const done = await waiting;
    expect(done.status).toBe('success');
    await eventually(() => seen.some((run) => run.status === 'success'), 10_000);
    unsubscribe();
    // Reconnected (a second socket), and every state went to the app once, seq growing.
    expect(sockets).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < seen.length; i += 1) expect(seen[i]!.seq).toBeGreaterThan(seen[i - 1]!.seq);
    expect(seen.filter((run) => run.status === 'success')).toHaveLength(1);
    const metrics = await (await fetch(`${gateway.url}/metrics`)).text();
    expect(metricValue(metrics, 'rungate_ws_connections')).toBeLessThanOrEqual(1);
  });
});
