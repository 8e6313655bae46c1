import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { useStack, WsProbe } from '../support/gateway-harness.js';

const SECRET = 'ws-connection-cap-secret-at-least-32-chars';
const CAP = 3;

async function token(sub: string): Promise<string> {
  return new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
}

/** Sends an auth frame and waits until the gateway either takes it (a subscribe is answered) or closes. */
async function authenticateByFrame(probe: WsProbe, jwt: string): Promise<'open' | 'closed'> {
  probe.send({ op: 'auth', token: jwt });
  probe.send({ op: 'subscribe', flowId: 'cap-check' });
  const outcome = await Promise.race([
    probe.waitFor((m) => (m.type === 'subscribed' && m.flowId === 'cap-check') || (m.type === 'error' && m.code === 'limit_exceeded')).then((m) => (m.type === 'subscribed' ? 'open' : 'refused')),
    probe.waitClosed().then(() => 'closed' as const),
  ]);
  if (outcome === 'refused') {
    await probe.waitClosed();
    return 'closed';
  }
  return outcome;
}

/** Finding 5 of issue 12 and contract section 5: the per-client connection cap holds however a client authenticates. */
describe('WebSocket connections per owner', () => {
  const fixture = useStack();

  it('counts connections that authenticate with an auth frame against their owner', async () => {
    await fixture.start({ args: ['--jwt-secret', SECRET, '--ws-max-connections-per-client', String(CAP)] });
    const alice = await token('alice');
    const outcomes: Array<'open' | 'closed'> = [];
    // Each auth frame frees an IP slot, so once 12 connections got in, each counting against no one.
    for (let i = 0; i < 12; i++) {
      const probe = await fixture.probe();
      outcomes.push(await authenticateByFrame(probe, alice));
    }
    expect(outcomes.filter((o) => o === 'open')).toHaveLength(CAP);
  });

  it('shares one count between header and frame authentication, and frees a slot when a connection closes', async () => {
    await fixture.start({ args: ['--jwt-secret', SECRET, '--ws-max-connections-per-client', String(CAP)] });
    const alice = await token('alice');
    const bob = await token('bob');
    const byHeader = await fixture.probe({ headers: { authorization: `Bearer ${alice}` } });
    const first = await fixture.probe();
    expect(await authenticateByFrame(first, alice)).toBe('open');
    const second = await fixture.probe();
    expect(await authenticateByFrame(second, alice)).toBe('open');

    const over = await fixture.probe();
    over.send({ op: 'auth', token: alice });
    const refusal = await over.waitFor((m) => m.type === 'error');
    expect(refusal).toMatchObject({ code: 'limit_exceeded' });
    await over.waitClosed();
    expect(over.closeCode).toBe(1008);
    await expect(WsProbe.connect(fixture.stack.wsUrl, { headers: { authorization: `Bearer ${alice}` } })).rejects.toThrow(/429/);

    // Another owner from the same address is not held back by alice's count.
    const bobs = await fixture.probe();
    expect(await authenticateByFrame(bobs, bob)).toBe('open');

    // Once the gateway has seen the close, alice may connect again.
    await byHeader.close();
    let outcome: 'open' | 'closed' = 'closed';
    for (let attempt = 0; attempt < 50 && outcome === 'closed'; attempt++) {
      outcome = await authenticateByFrame(await fixture.probe(), alice);
      if (outcome === 'closed') await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(outcome).toBe('open');
    expect(first.socket.readyState).toBe(WebSocket.OPEN);
    expect(second.socket.readyState).toBe(WebSocket.OPEN);
  });
});
