import { connect } from 'node:net';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { eventually, metricValue, postJson, startBody, useStack } from '../support/gateway-harness.js';

const SECRET = 'robustness-secret-at-least-32-characters';

/** Peers that vanish at awkward moments, and orderings that are easy to get wrong. */
describe('WebSocket robustness', () => {
  const t = useStack();

  async function metric(name: string): Promise<number> {
    return metricValue(await (await fetch(`${t.stack.url}/metrics`)).text(), name);
  }

  it('survives peers that reset the connection in the middle of an upgrade', async () => {
    const stack = await t.start({ args: ['--jwt-secret', SECRET] });
    const { hostname, port } = new URL(stack.url);
    for (const path of ['/nope', '/ws']) {
      for (let i = 0; i < 10; i++) {
        const socket = connect(Number(port), hostname);
        socket.on('error', () => undefined);
        await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
        socket.write(
          `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nAuthorization: Bearer not.a.token\r\n` +
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        );
        // Resets 0, 1 or 2 ms after the request: at different points of the upgrade, on purpose.
        await new Promise((resolve) => setTimeout(resolve, i % 3));
        socket.resetAndDestroy();
      }
    }
    // A quiet window, the point of the test: 100 ms for the resets to trip the server, if they can.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);
  });

  it('forgets the subscriptions of peers that leave while their auth is being checked', async () => {
    const stack = await t.start({ args: ['--jwt-secret', SECRET] });
    const token = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
    for (let i = 0; i < 20; i++) {
      const socket = new WebSocket(stack.wsUrl);
      await new Promise<void>((resolve) => socket.once('open', () => resolve()));
      socket.send(JSON.stringify({ op: 'auth', token }));
      socket.send(JSON.stringify({ op: 'subscribe', flowId: 'f' }));
      socket.send(JSON.stringify({ op: 'subscribe', runId: `exec_gone${i}` }));
      socket.terminate();
    }
    await eventually(async () => (await metric('rungate_ws_connections')) === 0, 5000);
    // A quiet window, the point of the test: the auth checks still running end within it, and
    // must not leave a subscription behind for a peer that is gone.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await metric('rungate_ws_subscriptions')).toBe(0);
    // Nothing leaked against alice's connection count either: she can still connect.
    await t.probe({ headers: { authorization: `Bearer ${token}` } });
  });

  it('sends subscribed before a run message even when a flow subscription already covers the run', async () => {
    const stack = await t.start({ sim: { runMs: 300, failRate: 0 } });
    const started = await postJson(`${stack.sim.url}/api/v1/flows/covered/run`, startBody({ webhookUrl: `${stack.url}/webhooks/doclo` }));
    const id = started.body.id as string;
    const probe = await t.probe();
    probe.send({ op: 'subscribe', runId: id });
    probe.send({ op: 'subscribe', flowId: 'covered' });
    await probe.waitFor((m) => m.type === 'run' && m.run?.status === 'success');
    const subscribedAt = probe.messages.findIndex((m) => m.type === 'subscribed' && m.runId === id);
    const firstRun = probe.messages.findIndex((m) => m.type === 'run' && m.run?.id === id);
    expect(subscribedAt).toBeGreaterThanOrEqual(0);
    expect(subscribedAt).toBeLessThan(firstRun);
  });

  it('shuts down promptly while a poll waits out a long Retry-After', async () => {
    const stack = await t.start({ sim: { runMs: 60_000, rateLimit: 2 }, args: ['--poll-grace-ms', '0', '--poll-min-grace-ms', '0'] });
    await postJson(`${stack.url}/api/v1/flows/slow/run`, startBody());
    await postJson(`${stack.url}/api/v1/flows/slow/run`, startBody());
    // The window is spent: the first poll (due after ~100 ms) now waits for it to reset, up to a
    // minute. Nothing outside the gateway shows that wait (no request, log or metric), so this
    // leaves the poll 400 ms to get there; a close before it would pass too, never fail.
    await new Promise((resolve) => setTimeout(resolve, 400));
    const started = Date.now();
    await stack.close();
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
