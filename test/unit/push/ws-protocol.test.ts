import { describe, expect, it } from 'vitest';
import { AuthError } from '../../../src/errors.js';
import type { Principal } from '../../../src/auth/principal.js';
import { SubscriptionIndex } from '../../../src/push/subscription-index.js';
import type { WsConnection } from '../../../src/push/ws-connection.js';
import { WsProtocol } from '../../../src/push/ws-protocol.js';
import { FakeLookup, fakeConnection, principal, record, run, silentLogger } from './fakes.js';

/** Tokens the fake authenticator knows; a token can be held until the test lets it through. */
class FakeAuthenticator {
  readonly tokens = new Map<string, Principal>();
  private held: Array<() => void> | undefined;
  constructor(readonly enabled: boolean) {}
  hold(): void {
    this.held = [];
  }
  release(): void {
    for (const resume of this.held ?? []) resume();
    this.held = undefined;
  }
  async verify(token: string): Promise<Principal> {
    if (this.held) await new Promise<void>((resume) => this.held!.push(resume));
    const found = this.tokens.get(token);
    if (!found) throw new AuthError('invalid');
    return found;
  }
}

/** Counts per client key, as the admission keeps them. */
class FakeAdmission {
  readonly counts = new Map<string, number>();
  constructor(private readonly cap = Infinity) {}
  move(from: string, to: string): boolean {
    if ((this.counts.get(to) ?? 0) >= this.cap) return false;
    this.release(from);
    this.add(to);
    return true;
  }
  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  release(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) - 1);
  }
}

/** Lets every promise the fakes resolved run its continuations. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function setup(options: { auth?: boolean; maxSubscriptions?: number; maxConnections?: number } = {}) {
  const index = new SubscriptionIndex<WsConnection>();
  const lookup = new FakeLookup();
  const authenticator = new FakeAuthenticator(options.auth ?? false);
  const admission = new FakeAdmission(options.maxConnections);
  const protocol = new WsProtocol(
    { index, lookup, authenticator, admission, logger: silentLogger },
    { maxSubscriptions: options.maxSubscriptions ?? 10, maxConnectionsPerClient: options.maxConnections ?? 10 },
  );
  const peer = (as?: Principal) => {
    const made = fakeConnection((message) => protocol.handle(made.connection, message));
    admission.add(made.connection.clientKey);
    if (as) made.connection.authenticate(as);
    const send = (frame: unknown) => protocol.onFrame(made.connection, Buffer.from(typeof frame === 'string' ? frame : JSON.stringify(frame)), false);
    const sendBinary = () => protocol.onFrame(made.connection, Buffer.from([1, 2, 3]), true);
    return { ...made, send, sendBinary };
  };
  return { index, lookup, authenticator, admission, peer };
}

describe('WsProtocol', () => {
  it('answers malformed and binary frames with bad_request and stays usable', async () => {
    const { lookup, peer } = setup();
    lookup.records.set('exec_1', record(run('exec_1', 1)));
    const p = peer();
    p.send('not json');
    p.send({ op: 'subscribe', runId: '<script>' });
    p.sendBinary();
    p.send({ op: 'subscribe', runId: 'exec_1' });
    await settle();
    const messages = p.socket.messages();
    expect(messages[0]).toMatchObject({ type: 'error', code: 'bad_request', message: 'frame is not valid JSON' });
    expect(messages[1]).toMatchObject({ type: 'error', code: 'bad_request', runId: '<script>' });
    expect(messages[2]).toEqual({ type: 'error', code: 'bad_request', message: 'frames must be text' });
    expect(messages.slice(3)).toEqual([{ type: 'subscribed', runId: 'exec_1' }, { type: 'run', run: run('exec_1', 1) }]);
  });

  it('confirms a run subscription before its snapshot, and skips a snapshot not newer than since', async () => {
    const { lookup, index, peer } = setup();
    lookup.records.set('exec_1', record(run('exec_1', 4)));
    lookup.records.set('exec_2', record(run('exec_2', 2)));
    const p = peer();
    p.send({ op: 'subscribe', runIds: ['exec_1', 'exec_2'], since: 3 });
    await settle();
    expect(p.socket.messages()).toEqual([
      { type: 'subscribed', runId: 'exec_1' },
      { type: 'run', run: run('exec_1', 4) },
      { type: 'subscribed', runId: 'exec_2' },
    ]);
    expect(index.runState(p.connection, 'exec_2')).toBe('confirmed');
    // What the peer said it had is not sent later either.
    p.connection.sendRun(run('exec_2', 3));
    p.connection.sendRun(run('exec_2', 4));
    expect(p.socket.messages().at(-1)).toEqual({ type: 'run', run: run('exec_2', 4) });
    expect(p.socket.messages()).toHaveLength(4);
  });

  it('parks a change that arrives during the lookup and sends the newest after subscribed', async () => {
    const { lookup, index, peer } = setup();
    lookup.records.set('exec_1', record(run('exec_1', 1)));
    lookup.hold();
    const p = peer();
    p.send({ op: 'subscribe', runId: 'exec_1' });
    await settle();
    expect(index.runState(p.connection, 'exec_1')).toBe('pending');
    expect(index.park(p.connection, run('exec_1', 2, 'success'))).toBe(true);
    lookup.release();
    await settle();
    expect(p.socket.messages()).toEqual([
      { type: 'subscribed', runId: 'exec_1' },
      { type: 'run', run: run('exec_1', 2, 'success') },
    ]);
  });

  it('sends nothing for a run unsubscribed while it was looked up', async () => {
    const { lookup, index, peer } = setup();
    lookup.records.set('exec_1', record(run('exec_1', 1)));
    lookup.hold();
    const p = peer();
    p.send({ op: 'subscribe', runId: 'exec_1' });
    p.send({ op: 'unsubscribe', runId: 'exec_1' });
    lookup.release();
    await settle();
    expect(p.socket.messages()).toEqual([]);
    expect(index.size).toBe(0);
  });

  it('answers unknown runs with not_found, failed lookups with unavailable, a spent budget with limit_exceeded, and forgets them', async () => {
    const { lookup, index, peer } = setup();
    const p = peer();
    p.send({ op: 'subscribe', runId: 'exec_unknown' });
    await settle();
    lookup.failWith = new Error('upstream down');
    p.send({ op: 'subscribe', runId: 'exec_down' });
    await settle();
    lookup.failWith = undefined;
    while (p.connection.lookupBudget.tryTake());
    p.send({ op: 'subscribe', runId: 'exec_budget' });
    await settle();
    expect(p.socket.messages()).toEqual([
      { type: 'error', code: 'not_found', message: 'run exec_unknown does not exist', runId: 'exec_unknown' },
      { type: 'error', code: 'unavailable', message: expect.any(String), runId: 'exec_down' },
      { type: 'error', code: 'limit_exceeded', message: expect.any(String), runId: 'exec_budget' },
    ]);
    expect(index.size).toBe(0);
  });

  it('answers forbidden for a foreign and an unknown run alike, without an upstream lookup', async () => {
    const { lookup, index, peer } = setup({ auth: true });
    lookup.records.set('exec_bob', record(run('exec_bob', 1), 'bob'));
    lookup.records.set('exec_alice', record(run('exec_alice', 1), 'alice'));
    const p = peer(principal('alice'));
    p.send({ op: 'subscribe', runIds: ['exec_bob', 'exec_nobody', 'exec_alice'] });
    await settle();
    const forbidden = { type: 'error', code: 'forbidden', message: 'this token may not read this run' };
    expect(p.socket.messages()).toEqual([
      { ...forbidden, runId: 'exec_bob' },
      { ...forbidden, runId: 'exec_nobody' },
      { type: 'subscribed', runId: 'exec_alice' },
      { type: 'run', run: run('exec_alice', 1) },
    ]);
    expect(lookup.finds).toEqual(['exec_alice']);
    expect(index.runIds()).toEqual(['exec_alice']);
  });

  it("lets an owner the gateway still remembers have its run looked up again, and nobody else's", async () => {
    const { lookup, peer } = setup({ auth: true });
    // The store lost both records; this instance remembers who owns them.
    lookup.owners.set('exec_lost', 'alice');
    lookup.owners.set('exec_bobs', 'bob');
    const p = peer(principal('alice'));
    p.send({ op: 'subscribe', runIds: ['exec_lost', 'exec_bobs'] });
    await settle();
    expect(lookup.finds).toEqual(['exec_lost']);
    expect(p.socket.messages()).toEqual([
      { type: 'error', code: 'not_found', message: 'run exec_lost does not exist', runId: 'exec_lost' },
      { type: 'error', code: 'forbidden', message: 'this token may not read this run', runId: 'exec_bobs' },
    ]);
  });

  it('lets admins and holders of a runs claim cause lookups, and refuses what the lookup finds foreign', async () => {
    const { lookup, peer } = setup({ auth: true });
    lookup.records.set('exec_bob', record(run('exec_bob', 1), 'bob'));
    const claim = peer(principal('carol', { runs: new Set(['exec_bob', 'exec_new']) }));
    claim.send({ op: 'subscribe', runIds: ['exec_bob', 'exec_new'] });
    const admin = peer(principal('root', { admin: true }));
    admin.send({ op: 'subscribe', runId: 'exec_new' });
    await settle();
    expect(claim.socket.messages()).toEqual([
      { type: 'subscribed', runId: 'exec_bob' },
      { type: 'run', run: run('exec_bob', 1) },
      { type: 'error', code: 'not_found', message: 'run exec_new does not exist', runId: 'exec_new' },
    ]);
    expect(admin.socket.messages()).toEqual([{ type: 'error', code: 'not_found', message: 'run exec_new does not exist', runId: 'exec_new' }]);
    expect(lookup.localFinds).toEqual([]);
  });

  it('limits subscriptions per connection, counting pending ones, and frees them on unsubscribe', async () => {
    const { lookup, peer } = setup({ maxSubscriptions: 2 });
    lookup.hold();
    const p = peer();
    p.send({ op: 'subscribe', flowId: 'a' });
    p.send({ op: 'subscribe', runId: 'exec_1' });
    p.send({ op: 'subscribe', flowId: 'b' });
    p.send({ op: 'subscribe', runId: 'exec_2' });
    p.send({ op: 'subscribe', flowId: 'a' }); // already held: not a new one
    p.send({ op: 'unsubscribe', flowId: 'a' });
    p.send({ op: 'subscribe', flowId: 'b' });
    await settle();
    expect(p.socket.messages()).toEqual([
      { type: 'subscribed', flowId: 'a' },
      { type: 'error', code: 'limit_exceeded', message: 'at most 2 subscriptions per connection' },
      { type: 'error', code: 'limit_exceeded', message: 'at most 2 subscriptions per connection', runId: 'exec_2' },
      { type: 'subscribed', flowId: 'a' },
      { type: 'subscribed', flowId: 'b' },
    ]);
  });

  it('lets only admins follow every flow', () => {
    const { index, peer } = setup({ auth: true });
    const alice = peer(principal('alice'));
    const root = peer(principal('root', { admin: true }));
    alice.send({ op: 'subscribe', flowId: '*' });
    root.send({ op: 'subscribe', flowId: '*' });
    expect(alice.socket.messages()).toEqual([{ type: 'error', code: 'forbidden', message: 'only admins may subscribe to every flow' }]);
    expect(root.socket.messages()).toEqual([{ type: 'subscribed', flowId: '*' }]);
    expect(index.followsFlow(alice.connection, '*')).toBe(false);
  });

  it('with auth on, closes a peer that subscribes before authenticating', () => {
    const { index, peer } = setup({ auth: true });
    const p = peer();
    p.send({ op: 'subscribe', flowId: 'f' });
    expect(p.socket.messages()).toEqual([{ type: 'error', code: 'unauthorized', message: expect.any(String) }]);
    expect(p.socket.closed).toEqual({ code: 1008, reason: 'authentication required' });
    expect(index.size).toBe(0);
  });

  it('an auth frame authenticates, moves the connection count from IP to owner, and frames after it wait for it', async () => {
    const { authenticator, admission, index, peer } = setup({ auth: true });
    authenticator.tokens.set('good', principal('alice'));
    authenticator.hold();
    const p = peer();
    p.send({ op: 'auth', token: 'good' });
    p.send({ op: 'subscribe', flowId: 'f' });
    await settle();
    expect(p.socket.messages()).toEqual([]);
    authenticator.release();
    await settle();
    expect(p.socket.messages()).toEqual([{ type: 'subscribed', flowId: 'f' }]);
    expect(p.connection.principal?.sub).toBe('alice');
    expect(p.connection.clientKey).toBe('sub:alice');
    expect(admission.counts).toEqual(new Map([['ip:127.0.0.1', 0], ['sub:alice', 1]]));
    expect(index.followsFlow(p.connection, 'f')).toBe(true);
  });

  it('an auth frame for an owner with no connection to spare closes the peer (1008) and moves nothing', async () => {
    const { authenticator, admission, peer } = setup({ auth: true, maxConnections: 1 });
    authenticator.tokens.set('good', principal('alice'));
    const first = peer();
    first.send({ op: 'auth', token: 'good' });
    await settle();
    const second = peer();
    second.send({ op: 'auth', token: 'good' });
    second.send({ op: 'subscribe', flowId: 'f' });
    await settle();
    expect(second.socket.messages()).toEqual([{ type: 'error', code: 'limit_exceeded', message: 'at most 1 connections per owner' }]);
    expect(second.socket.closed).toEqual({ code: 1008, reason: 'too many connections for this owner' });
    expect(second.connection.principal).toBeUndefined();
    expect(admission.counts).toEqual(new Map([['ip:127.0.0.1', 1], ['sub:alice', 1]]));
    expect(first.socket.closed).toBeUndefined();
  });

  it('a bad token closes an unauthenticated peer; an authenticated one keeps its owner and cannot change it', async () => {
    const { authenticator, admission, peer } = setup({ auth: true });
    authenticator.tokens.set('bob', principal('bob'));
    const stranger = peer();
    stranger.send({ op: 'auth', token: 'bad' });
    const alice = peer(principal('alice'));
    alice.send({ op: 'auth', token: 'bad' });
    alice.send({ op: 'auth', token: 'bob' });
    await settle();
    expect(stranger.socket.messages()).toEqual([{ type: 'error', code: 'unauthorized', message: 'the token is not valid' }]);
    expect(stranger.socket.closed).toEqual({ code: 1008, reason: 'authentication failed' });
    expect(alice.socket.messages()).toEqual([
      { type: 'error', code: 'unauthorized', message: 'the token is not valid' },
      { type: 'error', code: 'forbidden', message: 'a connection cannot change owner; open a new one' },
    ]);
    expect(alice.socket.closed).toBeUndefined();
    expect(alice.connection.principal?.sub).toBe('alice');
    expect(admission.counts.get('sub:bob')).toBeUndefined();
  });

  it('with auth off, an auth frame is accepted and ignored', async () => {
    const { peer } = setup();
    const p = peer();
    p.send({ op: 'auth', token: 'anything' });
    p.send({ op: 'subscribe', flowId: 'f' });
    await settle();
    expect(p.socket.messages()).toEqual([{ type: 'subscribed', flowId: 'f' }]);
    expect(p.connection.principal).toBeUndefined();
  });

  it('touches nothing for a peer that left while its auth or lookup was pending', async () => {
    const { authenticator, admission, lookup, index, peer } = setup({ auth: true });
    authenticator.tokens.set('good', principal('alice', { admin: true }));
    authenticator.hold();
    const p = peer();
    p.send({ op: 'auth', token: 'good' });
    p.send({ op: 'subscribe', flowId: 'f' });
    p.connection.dispose();
    authenticator.release();
    lookup.hold();
    const q = peer(principal('root', { admin: true }));
    q.send({ op: 'subscribe', runId: 'exec_1' });
    lookup.records.set('exec_1', record(run('exec_1', 1)));
    index.removePeer(q.connection);
    q.connection.dispose();
    lookup.release();
    await settle();
    expect(p.socket.messages()).toEqual([]);
    expect(q.socket.messages()).toEqual([]);
    expect(admission.counts.get('sub:alice')).toBeUndefined();
    expect(index.size).toBe(0);
  });
});
