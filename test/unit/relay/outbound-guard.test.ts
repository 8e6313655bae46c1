import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DeliverySender } from '../../../src/relay/delivery-sender.js';
import { isBlockedAddress, webhookUrlProblem, type Resolver } from '../../../src/relay/outbound-guard.js';

describe('isBlockedAddress', () => {
  it.each(['127.0.0.1', '127.9.9.9', '10.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '0.0.0.0', '100.64.0.1', '::', '::1', 'fc00::1', 'fd12::1', 'fe80::1', '::ffff:10.0.0.1', '::ffff:127.0.0.1'])(
    'blocks %s',
    (address) => expect(isBlockedAddress(address)).toBe(true),
  );
  it.each(['93.184.216.34', '172.32.0.1', '8.8.8.8', '2606:4700::1111', '::ffff:8.8.8.8'])('lets %s through', (address) => expect(isBlockedAddress(address)).toBe(false));
});

describe('webhookUrlProblem', () => {
  it('accepts public http(s) URLs, with ports, paths and queries', () => {
    for (const url of ['https://hooks.example.com/doclo', 'http://203.0.113.9:8443/x?y=1', 'https://[2606:4700::1111]/']) expect(webhookUrlProblem(url, false)).toBeUndefined();
  });
  it('refuses private literals and localhost unless private hosts are allowed; never other schemes or credentials', () => {
    expect(webhookUrlProblem('http://127.0.0.1/', false)).toMatch(/loopback/);
    expect(webhookUrlProblem('http://LOCALHOST./', false)).toMatch(/loopback/);
    expect(webhookUrlProblem('http://127.0.0.1/', true)).toBeUndefined();
    expect(webhookUrlProblem('gopher://hooks.example.com/', true)).toMatch(/http/);
    expect(webhookUrlProblem('https://a:b@hooks.example.com/', true)).toMatch(/credentials/);
  });
});

describe('DeliverySender: resolution pinned to the checked address', () => {
  let server: Server | undefined;
  let hits = 0;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
    hits = 0;
  });
  const listen = async () => {
    server = createServer((_req, res) => {
      hits++;
      res.end('ok');
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  };
  /** A resolver that answers each name from a table, counting the questions. */
  const table = (answers: Record<string, string[]>, asked: string[] = []): Resolver => (hostname, callback) => {
    asked.push(hostname);
    const addresses = answers[hostname];
    if (!addresses) return callback(Object.assign(new Error('not found'), { code: 'ENOTFOUND' }), []);
    callback(null, addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
  };

  it('connects to the address the lookup checked (a name no system resolver knows reaches the receiver)', async () => {
    const port = await listen();
    const asked: string[] = [];
    const sender = new DeliverySender({ timeoutMs: 2000, allowPrivate: true, resolve: table({ 'receiver.test': ['127.0.0.1'] }, asked) });
    try {
      expect(await sender.send(`http://receiver.test:${port}/x`, '{}', {})).toEqual({ kind: 'delivered', status: 200 });
      expect(asked).toEqual(['receiver.test']);
      expect(hits).toBe(1);
    } finally {
      sender.close();
    }
  });

  it('never contacts a host name that resolves to a private address, even when one answer is public', async () => {
    const port = await listen();
    const sender = new DeliverySender({ timeoutMs: 2000, allowPrivate: false, resolve: table({ 'rebind.test': ['93.184.216.34', '127.0.0.1'], 'inside.test': ['127.0.0.1'] }) });
    try {
      expect(await sender.send(`http://inside.test:${port}/x`, '{}', {})).toEqual({ kind: 'blocked' });
      expect(await sender.send(`http://rebind.test:${port}/x`, '{}', {})).toEqual({ kind: 'blocked' });
      expect(await sender.send(`http://127.0.0.1:${port}/x`, '{}', {})).toEqual({ kind: 'blocked' });
      expect(hits).toBe(0);
    } finally {
      sender.close();
    }
  });

  it('does not follow redirects', async () => {
    server = createServer((_req, res) => {
      hits++;
      res.writeHead(307, { location: '/elsewhere' }).end();
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const sender = new DeliverySender({ timeoutMs: 2000, allowPrivate: true });
    try {
      expect(await sender.send(`http://127.0.0.1:${(server.address() as AddressInfo).port}/x`, '{}', {})).toEqual({ kind: 'refused', status: 307 });
      expect(hits).toBe(1);
    } finally {
      sender.close();
    }
  });
});
