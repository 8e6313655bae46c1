import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { DeliverySender } from '../../../src/relay/delivery-sender.js';
import { DeliveryWorker } from '../../../src/relay/delivery-worker.js';
import type { AttemptResult } from '../../../src/relay/retry-policy.js';
import { newDelivery } from '../../../src/runs/delivery.js';
import type { RunRecord } from '../../../src/runs/run-record.js';
import { MemoryRunStore } from '../../../src/store/memory-run-store.js';

const silent = pino({ level: 'silent' });
const options = { concurrency: 8, perHost: 2, leaseMs: 5000, scanIntervalMs: 50, baseDelayMs: 100, maxDelayMs: 1000, maxAgeMs: 60_000, secret: 's', instanceId: 'me', userAgent: 'test' };

function finalRecord(id: string, url: string, nowMs = Date.now()): RunRecord {
  return {
    run: { id, flowId: 'f', status: 'success', seq: 3, source: 'poll' },
    rev: 1,
    trackedAtMs: nowMs,
    updatedAtMs: nowMs,
    webhookUrl: url,
    delivery: newDelivery(id, url, 'execution.completed', nowMs),
  };
}

describe('DeliveryWorker', () => {
  const closers: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });
  const receiver = async (delayMs: number) => {
    let inFlight = 0;
    const seen = { most: 0, hits: 0 };
    const server: Server = createServer((_req, res) => {
      inFlight++;
      seen.hits++;
      seen.most = Math.max(seen.most, inFlight);
      setTimeout(() => {
        inFlight--;
        res.end();
      }, delayMs);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/h`, seen };
  };
  const worker = (store: MemoryRunStore, allowPrivate: boolean, results: AttemptResult[], instanceId = 'me') => {
    const sender = new DeliverySender({ timeoutMs: 2000, allowPrivate });
    const created = new DeliveryWorker({ store, sender, logger: silent, onResult: (r) => results.push(r) }, { ...options, instanceId });
    closers.push(() => created.close());
    return created;
  };
  const until = async (check: () => Promise<boolean>) => {
    const deadline = Date.now() + 10_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error('not in time');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  it('fails a delivery to a blocked address without contacting it, counted as blocked', async () => {
    const store = new MemoryRunStore();
    const hooks = await receiver(0);
    await store.compareAndSet(finalRecord('exec_b', hooks.url), 0);
    const results: AttemptResult[] = [];
    worker(store, false, results).start();
    await until(async () => (await store.get('exec_b'))?.delivery?.status === 'failed');
    expect((await store.get('exec_b'))?.delivery).toMatchObject({ lastError: 'blocked', attempts: 1 });
    expect(results).toEqual(['blocked']);
    expect(hooks.seen.hits).toBe(0);
  });

  it('keeps to the per-host bound, and leaves a delivery leased by a live instance alone until its lease ends', async () => {
    const store = new MemoryRunStore();
    const hooks = await receiver(100);
    for (let i = 0; i < 6; i++) await store.compareAndSet(finalRecord(`exec_${i}`, hooks.url), 0);
    const held = finalRecord('exec_held', hooks.url);
    await store.compareAndSet({ ...held, delivery: { ...held.delivery!, lease: { owner: 'other', untilMs: Date.now() + 1500 } } }, 0);
    const results: AttemptResult[] = [];
    const started = Date.now();
    worker(store, true, results).start();
    await until(() => Promise.resolve(results.length === 6));
    expect(hooks.seen.most).toBeLessThanOrEqual(2);
    expect((await store.get('exec_held'))?.delivery?.status).toBe('pending');
    await until(async () => (await store.get('exec_held'))?.delivery?.status === 'delivered');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    expect(hooks.seen.hits).toBe(7);
    expect(await store.countPendingDeliveries()).toBe(0);
  });

  it('two workers on one store attempt each delivery once', async () => {
    const store = new MemoryRunStore();
    const hooks = await receiver(5);
    for (let i = 0; i < 40; i++) await store.compareAndSet(finalRecord(`exec_${i}`, hooks.url), 0);
    const results: AttemptResult[] = [];
    worker(store, true, results, 'a').start();
    worker(store, true, results, 'b').start();
    await until(async () => (await store.countPendingDeliveries()) === 0);
    expect(hooks.seen.hits).toBe(40);
    expect(results.filter((r) => r === 'delivered')).toHaveLength(40);
  });
});
