import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AuthError } from '../../../src/errors.js';
import type { Principal } from '../../../src/auth/principal.js';
import type { RunListener } from '../../../src/bus/run-bus.js';
import { GatewayMetrics } from '../../../src/metrics/gateway-metrics.js';
import { WsHub, type WsHubOptions } from '../../../src/push/ws-hub.js';
import type { RunRecord } from '../../../src/runs/run-record.js';
import { eventually, WsProbe } from '../../support/gateway-harness.js';
import { FakeClock, FakeLookup, principal, record, run, silentLogger } from './fakes.js';

/** The bus side the hub uses: the test publishes by hand. */
class FakeBus {
  readonly listeners = new Set<RunListener>();
  subscribe(listener: RunListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  publish(changed: RunRecord): void {
    for (const listener of this.listeners) listener(changed);
  }
}

/** Auth off unless a principal is given for the header `Bearer good`. */
function fakeAuthenticator(headerPrincipal?: Principal) {
  return {
    enabled: headerPrincipal !== undefined,
    verify: (): Promise<Principal> => Promise.reject(new AuthError('invalid')),
    fromHeader: (header: string | undefined): Promise<Principal> =>
      header === 'Bearer good' && headerPrincipal ? Promise.resolve(headerPrincipal) : Promise.reject(new AuthError('invalid')),
  };
}

const OPTIONS: WsHubOptions = {
  path: '/ws',
  maxPayloadBytes: 64 * 1024,
  maxSubscriptions: 10,
  maxBufferedBytes: 1024 * 1024,
  pingIntervalMs: 60_000,
  lookupsPerConnectionPerMinute: 10,
  originAllowed: () => true,
  maxConnectionsPerClient: 1,
  authTimeoutMs: 10_000,
};

describe('WsHub', () => {
  const opened: Array<{ hub: WsHub; server: Server; probes: WsProbe[] }> = [];

  afterEach(async () => {
    for (const { hub, server, probes } of opened.splice(0)) {
      await Promise.all(probes.map((probe) => probe.close()));
      await hub.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  async function start(options: Partial<WsHubOptions> = {}, headerPrincipal?: Principal) {
    const bus = new FakeBus();
    const lookup = new FakeLookup();
    const metrics = new GatewayMetrics();
    const hub = new WsHub({ bus, lookup, metrics, logger: silentLogger, authenticator: fakeAuthenticator(headerPrincipal) }, { ...OPTIONS, ...options });
    const server = createServer();
    hub.attach(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`;
    const probes: WsProbe[] = [];
    opened.push({ hub, server, probes });
    const connect = async (headers: Record<string, string> = {}) => {
      const probe = await WsProbe.connect(url, { headers });
      probes.push(probe);
      return probe;
    };
    const gauge = async (name: 'wsConnections' | 'wsSubscriptions') => (await metrics[name].get()).values[0]?.value ?? 0;
    return { bus, lookup, hub, url, connect, gauge };
  }

  it('fans a bus change out to exactly the peers that follow it, once each', async () => {
    const { bus, lookup, connect } = await start({ maxConnectionsPerClient: 5 });
    lookup.records.set('exec_1', record(run('exec_1', 1)));
    const both = await connect();
    both.send({ op: 'subscribe', runId: 'exec_1' });
    both.send({ op: 'subscribe', flowId: 'f' });
    await both.waitFor((m) => m.type === 'subscribed' && m.flowId === 'f');
    await both.waitFor((m) => m.type === 'run');
    const other = await connect();
    other.send({ op: 'subscribe', flowId: 'g' });
    await other.waitFor((m) => m.type === 'subscribed');

    bus.publish(record(run('exec_1', 2, 'success')));
    bus.publish(record(run('exec_9', 1, 'running', 'g')));
    await both.waitFor((m) => m.run?.seq === 2);
    await other.waitFor((m) => m.type === 'run');
    expect(both.runs().map((r) => [r.id, r.seq])).toEqual([
      ['exec_1', 1],
      ['exec_1', 2],
    ]);
    expect(other.runs().map((r) => r.id)).toEqual(['exec_9']);
  });

  it('holds changes of a run being looked up until its subscribed is out, even when a flow covers it', async () => {
    const { bus, lookup, connect } = await start();
    lookup.records.set('exec_1', record(run('exec_1', 1)));
    const peer = await connect();
    peer.send({ op: 'subscribe', flowId: 'f' });
    await peer.waitFor((m) => m.type === 'subscribed');
    lookup.hold();
    peer.send({ op: 'subscribe', runId: 'exec_1' });
    await eventually(() => lookup.finds.length === 1);
    bus.publish(record(run('exec_1', 2)));
    bus.publish(record(run('exec_1', 3, 'success')));
    lookup.release();
    await peer.waitFor((m) => m.type === 'run');
    expect(peer.messages.map((m) => m.type)).toEqual(['subscribed', 'subscribed', 'run']);
    expect(peer.runs().map((r) => r.seq)).toEqual([3]);
  });

  it('offers a reread record like a bus change, sending only what a peer lacks', async () => {
    const { hub, connect } = await start();
    const peer = await connect();
    peer.send({ op: 'subscribe', flowId: 'f' });
    await peer.waitFor((m) => m.type === 'subscribed');
    expect(hub.followed()).toEqual({ runIds: [], flowIds: ['f'] });
    hub.offer(record(run('exec_1', 3)));
    hub.offer(record(run('exec_1', 3)));
    hub.offer(record(run('exec_1', 4, 'success')));
    await peer.waitFor((m) => m.run?.seq === 4);
    expect(peer.runs().map((r) => r.seq)).toEqual([3, 4]);
  });

  it('names the owners that confirmed subscriptions prove, for a store that lost them', async () => {
    const { hub, lookup, connect } = await start({ maxConnectionsPerClient: 5 }, principal('alice'));
    lookup.records.set('exec_1', record(run('exec_1', 1), 'alice'));
    const owner = await connect({ authorization: 'Bearer good' });
    owner.send({ op: 'subscribe', runId: 'exec_1' });
    await owner.waitFor((m) => m.type === 'run');
    expect(hub.followed()).toEqual({ runIds: ['exec_1'], flowIds: [], owners: new Map([['exec_1', 'alice']]) });
  });

  it('proves no owner through an admin or a runs claim', async () => {
    for (const reader of [principal('root', { admin: true }), principal('bob', { runs: new Set(['exec_1']) })]) {
      const { hub, lookup, connect } = await start({ maxConnectionsPerClient: 5 }, reader);
      lookup.records.set('exec_1', record(run('exec_1', 1), 'alice'));
      const peer = await connect({ authorization: 'Bearer good' });
      peer.send({ op: 'subscribe', runId: 'exec_1' });
      await peer.waitFor((m) => m.type === 'run');
      expect(hub.followed(), reader.sub).toEqual({ runIds: ['exec_1'], flowIds: [] });
    }
  });

  it('forgets a dropped peer: its subscriptions and its connection count go with it', async () => {
    const { hub, lookup, connect, gauge } = await start({ maxConnectionsPerClient: 1 });
    lookup.hold(); // a subscription still pending when the peer leaves
    const first = await connect();
    first.send({ op: 'subscribe', flowId: 'f' });
    first.send({ op: 'subscribe', runId: 'exec_1' });
    await first.waitFor((m) => m.type === 'subscribed');
    expect(await gauge('wsConnections')).toBe(1);
    await expect(connect()).rejects.toThrow(/429/);
    await first.close();
    // The hub drops it on the socket's close, which may come just after the client's.
    await eventually(async () => (await gauge('wsConnections')) === 0, 5000);
    expect(await gauge('wsSubscriptions')).toBe(0);
    expect(hub.followed()).toEqual({ runIds: [], flowIds: [] });
    lookup.release();
    await connect();
  });

  it('closes a peer with 1008 when its token expires by the injected clock', async () => {
    const clock = new FakeClock(1_000_000);
    const { connect } = await start({ now: clock.now }, principal('alice', { expiresAtMs: 1_000_050 }));
    const peer = await connect({ authorization: 'Bearer good' });
    await peer.waitClosed();
    expect(peer.closeCode).toBe(1008);
  });

  it('closes every peer with 1001 when it closes', async () => {
    const { hub, connect } = await start();
    const peer = await connect();
    await hub.close();
    await peer.waitClosed();
    expect(peer.closeCode).toBe(1001);
  });
});
