import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createUpstream } from '../../../src/upstream/index.js';

const RUN = JSON.stringify({ id: 'exec_1', flowId: 'f', status: 'running' });

/**
 * The guard against a growth the soak found: every upstream call combined the caller's signal
 * (the poller's, alive as long as it is) and the client's own with AbortSignal.any, which in
 * Node 20 keeps each combination reachable from the long-lived signals for good.
 */
describe('upstream calls and long-lived abort signals', () => {
  it('leave nothing behind on the caller’s signal, answered or failed', async () => {
    const caller = new AbortController();
    let calls = 0;
    const fetchFake: typeof fetch = (_url, init) => {
      calls++;
      // Something inside fetch listens, as undici does, and must be untied afterwards too.
      init?.signal?.addEventListener('abort', () => undefined);
      return Promise.resolve(calls % 3 === 0 ? new Response('{"error":{"code":"EXECUTION_NOT_FOUND","message":"no"}}', { status: 404 }) : new Response(RUN, { status: 200, headers: { 'content-type': 'application/json' } }));
    };
    const upstream = createUpstream({ baseUrl: 'http://upstream.invalid/api/v1', fetch: fetchFake, retries: 0 });
    try {
      for (let i = 0; i < 3000; i++) await upstream.getRun('exec_1', { signal: caller.signal, priority: 'low' }).catch(() => undefined);
      expect(calls).toBe(3000);
      expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
      // Node keeps what AbortSignal.any made from a signal in a set on it (an internal symbol:
      // if a later Node renames it, this line checks nothing, the one above still does).
      const dependants = Object.getOwnPropertySymbols(caller.signal).find((symbol) => symbol.description === 'kDependantSignals');
      expect(dependants === undefined ? 0 : (caller.signal as unknown as Record<symbol, Set<unknown>>)[dependants]!.size).toBe(0);
    } finally {
      upstream.close();
    }
  });
});
