import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator, type Simulator } from '../../src/simulator/index.js';
import { buildCli, documentBody, freePort, http, spawnGateway, waitFor, type CliBuild, type SpawnedGateway } from '../support/spawned-gateway.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';
import { observe } from '../support/observations.js';

describe('relay: pending deliveries survive SIGKILL (SQLite)', () => {
  let build: CliBuild | undefined;
  let dir = '';
  const gateways: SpawnedGateway[] = [];
  const sims: Simulator[] = [];
  const receivers: WebhookReceiver[] = [];

  beforeAll(() => {
    build = buildCli('relay-restart');
    dir = mkdtempSync(join(tmpdir(), 'rungate-relay-'));
  }, 120_000);
  afterEach(async () => {
    for (const gateway of gateways.splice(0)) await gateway.kill();
    for (const receiver of receivers.splice(0)) await receiver.close();
    for (const sim of sims.splice(0)) await sim.close();
  });
  afterAll(() => {
    build?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('delivers, after a restart on the same file, what was pending when the gateway was killed with its receiver down', async () => {
    const sim = await createSimulator({ runMs: 200, failRate: 0, seed: 5 });
    sims.push(sim);
    const port = await freePort();
    const args = [
      '--port', '0', '--store', `sqlite:${join(dir, 'relay.db')}`, '--upstream-url', `${sim.url}/api/v1`, '--api-key', 'dc_test_key',
      '--webhook-secret', sim.webhookSecret, '--relay-allow-private', '--relay-retry-ms', '200', '--relay-scan-ms', '100',
    ];
    const first = await spawnGateway(build!.cli, args);
    gateways.push(first);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const answer = await http(`${first.url}/api/v1/flows/flow-relay/run`, { ...documentBody(), webhookUrl: `http://127.0.0.1:${port}/hooks` });
      expect(answer.status).toBe(200);
      ids.push(answer.body.id as string);
    }
    // Every delivery tried at least twice against the closed port, then the gateway dies.
    const attemptsOf = async (url: string, id: string) => {
      const data = (await http(`${url}/api/v1/runs/${id}/deliveries`)).body.data as Array<{ attempts: number; status: string; lastError?: string }>;
      return data[0];
    };
    await waitFor(async () => (await Promise.all(ids.map((id) => attemptsOf(first.url, id)))).every((d) => (d?.attempts ?? 0) >= 2), 15_000, 'failed attempts');
    expect((await attemptsOf(first.url, ids[0]!))).toMatchObject({ status: 'pending', lastError: 'ECONNREFUSED' });
    await first.kill('SIGKILL');

    const hooks = await WebhookReceiver.start(sim.webhookSecret, port);
    receivers.push(hooks);
    // Nothing is sent while no gateway runs.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(hooks.received).toHaveLength(0);
    const second = await spawnGateway(build!.cli, args);
    gateways.push(second);
    const listeningAt = Date.now();
    await waitFor(() => ids.every((id) => hooks.forRun(id).length > 0), 20_000, 'deliveries after the restart');
    observe('SIGKILL with the receiver down, restart', {
      deliveries: ids.length,
      lastDeliveredAfterRestartMs: Math.max(...ids.map((id) => hooks.forRun(id)[0]!.at)) - listeningAt,
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (const id of ids) {
      expect(hooks.forRun(id)).toHaveLength(1);
      expect(hooks.forRun(id)[0]!.verified).toBe(true);
      expect(await attemptsOf(second.url, id)).toMatchObject({ status: 'delivered' });
    }
  }, 60_000);
});
