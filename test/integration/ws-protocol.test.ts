import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { signBody } from '../../src/webhooks/signature-verifier.js';
import { metricValue, postJson, startBody, useStack, WsProbe } from '../support/gateway-harness.js';

/** Contract section 3 from a peer's side, hostile peers included. */
describe('WebSocket protocol', () => {
  const t = useStack();

  it('answers malformed frames with bad_request and stays usable', async () => {
    const stack = await t.start({ sim: { runMs: 200 } });
    const p = await t.probe();
    const garbage: unknown[] = [
      'not json',
      '[]',
      '42',
      'null',
      { op: 'dance' },
      { op: 'subscribe' },
      { op: 'subscribe', runId: 'exec_a', flowId: 'f' },
      { op: 'subscribe', runId: 42 },
      { op: 'subscribe', runId: '<script>' },
      { op: 'subscribe', runId: 'x'.repeat(300) },
      { op: 'subscribe', runIds: [] },
      { op: 'subscribe', runIds: 'exec_a' },
      { op: 'subscribe', runId: 'exec_a', since: -1 },
      { op: 'subscribe', runId: 'exec_a', since: 1.5 },
      { op: 'subscribe', flowId: '' },
      { op: 'auth' },
      '{"op":"subscribe","runId":"exec_a"',
    ];
    for (const frame of garbage) p.send(frame);
    p.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    await p.waitFor(() => p.messages.filter((m) => m.type === 'error').length === garbage.length + 1, 5000);
    for (const message of p.messages) expect(message).toMatchObject({ type: 'error', code: 'bad_request', message: expect.any(String) });

    const started = await postJson(`${stack.url}/api/v1/flows/f/run`, startBody());
    p.send({ op: 'subscribe', runId: started.body.id });
    await p.waitFor((m) => m.type === 'subscribed' && m.runId === started.body.id);
    await p.waitFor((m) => m.type === 'run' && ['success', 'failed'].includes(m.run!.status));
  });

  it('closes a peer that sends a frame over 64 KiB with 1009', async () => {
    await t.start();
    const p = await t.probe();
    p.send({ op: 'subscribe', runId: 'exec_a', pad: 'x'.repeat(70 * 1024) });
    await p.waitClosed();
    expect(p.closeCode).toBe(1009);
  });

  it('limits subscriptions per connection and upstream lookups per connection', async () => {
    const stack = await t.start({ args: ['--ws-max-subscriptions', '3', '--ws-lookups-per-connection', '2'] });
    const p = await t.probe();
    p.send({ op: 'subscribe', flowId: 'a' });
    p.send({ op: 'subscribe', flowId: 'b' });
    p.send({ op: 'subscribe', flowId: 'c' });
    p.send({ op: 'subscribe', flowId: 'd' });
    const limit = await p.waitFor((m) => m.type === 'error');
    expect(limit.code).toBe('limit_exceeded');
    p.send({ op: 'unsubscribe', flowId: 'a' });
    p.send({ op: 'unsubscribe', flowId: 'b' });
    p.send({ op: 'unsubscribe', flowId: 'c' });

    // Unknown runs: each costs an upstream lookup, and only two are allowed per minute here.
    const before = stack.sim.stats().requests.get;
    p.send({ op: 'subscribe', runIds: ['exec_u1', 'exec_u2', 'exec_u3'] });
    await p.waitFor(() => p.messages.filter((m) => m.runId?.startsWith('exec_u')).length === 3);
    const codes = p.messages.filter((m) => m.runId?.startsWith('exec_u')).map((m) => m.code).sort();
    expect(codes).toEqual(['limit_exceeded', 'not_found', 'not_found']);
    expect(stack.sim.stats().requests.get - before).toBe(2);
    const metrics = await (await fetch(`${stack.url}/metrics`)).text();
    expect(metricValue(metrics, 'rungate_client_lookups_refused_total')).toBe(1);
  });

  it('the lookup flood from many connections is bounded in total', async () => {
    const stack = await t.start({ args: ['--lookups-per-minute', '5'] });
    const peers = await Promise.all(Array.from({ length: 4 }, () => t.probe()));
    peers.forEach((p, i) => p.send({ op: 'subscribe', runIds: Array.from({ length: 5 }, (_, j) => `exec_flood_${i}_${j}`) }));
    for (const p of peers) await p.waitFor(() => p.messages.filter((m) => m.type === 'error').length === 5);
    expect(stack.sim.stats().requests.get).toBe(5);
  });

  it('closes a slow consumer with 1013 instead of buffering without bound', async () => {
    const stack = await t.start({ args: ['--ws-max-buffered', '64kb'] });
    const slow = await t.probe();
    slow.send({ op: 'subscribe', flowId: '*' });
    await slow.waitFor((m) => m.type === 'subscribed');
    // Stop reading: the gateway's writes pile up in the kernel, then in its own buffer.
    (slow.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    const fast = await t.probe();
    fast.send({ op: 'subscribe', flowId: '*' });
    await fast.waitFor((m) => m.type === 'subscribed');
    const blob = 'y'.repeat(16 * 1024);
    for (let i = 0; i < 400 && slow.closeCode === undefined; i++) {
      const body = JSON.stringify({ event: 'execution.completed', data: { id: `exec_slow_${i}`, flowId: 'f', status: 'success', output: { blob } } });
      await postJson(`${stack.url}/webhooks/doclo`, body, { 'x-doclo-signature': signBody(stack.sim.webhookSecret, body) });
      const metrics = await (await fetch(`${stack.url}/metrics`)).text();
      if (metricValue(metrics, 'rungate_ws_slow_consumer_closes_total') > 0) break;
    }
    const metrics = await (await fetch(`${stack.url}/metrics`)).text();
    expect(metricValue(metrics, 'rungate_ws_slow_consumer_closes_total')).toBe(1);
    (slow.socket as unknown as { _socket: { resume(): void } })._socket.resume();
    await slow.waitClosed();
    expect(slow.closeCode).toBe(1013);
    // The other peer got everything and is still connected.
    expect(fast.socket.readyState).toBe(fast.socket.OPEN);
    expect(fast.runs().length).toBeGreaterThan(3);
  });

  it('terminates peers that stop answering pings', async () => {
    const stack = await t.start({ args: ['--ws-ping-interval-ms', '150'] });
    const { hostname, port } = new URL(stack.url);
    const socket = connect(Number(port), hostname);
    let upgraded = false;
    socket.on('data', (data) => {
      if (data.toString().startsWith('HTTP/1.1 101')) upgraded = true;
    });
    socket.write(
      'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    const started = Date.now();
    await new Promise<void>((resolve) => socket.on('close', () => resolve()));
    expect(upgraded).toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('refuses upgrades on other paths', async () => {
    const stack = await t.start();
    await expect(WsProbe.connect(`${stack.wsUrl.replace('/ws', '/other')}`)).rejects.toThrow(/404/);
  });

  it('closes peers with 1001 on shutdown', async () => {
    const stack = await t.start();
    const p = await WsProbe.connect(stack.wsUrl);
    p.send({ op: 'subscribe', flowId: '*' });
    await p.waitFor((m) => m.type === 'subscribed');
    await stack.close();
    await p.waitClosed();
    expect(p.closeCode).toBe(1001);
  });
});
