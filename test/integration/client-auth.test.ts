import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthenticationError, createClient, type RungateClient } from '../../src/client/index.js';
import { startStack, type Stack } from '../support/gateway-harness.js';

const SECRET = 'client-auth-test-secret-0123456789abcdef';
const DOCUMENT = { base64: Buffer.from('%PDF-1.4 auth').toString('base64'), mimeType: 'application/pdf' };

const token = (sub: string) =>
  new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('10m').sign(new TextEncoder().encode(SECRET));

describe('rungate client with --jwt-secret', () => {
  let stack: Stack;
  const clients: RungateClient[] = [];

  beforeAll(async () => {
    stack = await startStack({ sim: { runMs: 300, failRate: 0, seed: 31 }, args: ['--jwt-secret', SECRET] });
  });
  afterAll(async () => {
    for (const client of clients) client.close();
    await stack?.close();
  });

  it('sends the token on REST and as the first socket frame; waits resolve', async () => {
    const client = createClient({ url: stack.url, token: await token('alice') });
    clients.push(client);
    const started = await Promise.all(Array.from({ length: 3 }, () => client.flows.run('invoice-extractor', { input: { document: DOCUMENT } })));
    const done = await client.runs.waitForMany(started.map((run) => run.id), { timeout: 20_000 });
    expect(done.map((run) => run.status)).toEqual(['success', 'success', 'success']);
  });

  it('rejects with AuthenticationError for a bad token', async () => {
    const client = createClient({ url: stack.url, token: 'not-a-jwt' });
    clients.push(client);
    await expect(client.runs.get('exec_any')).rejects.toBeInstanceOf(AuthenticationError);
    await expect(client.runs.waitForCompletion('exec_any', { timeout: 10_000 })).rejects.toBeInstanceOf(AuthenticationError);
  });
});
