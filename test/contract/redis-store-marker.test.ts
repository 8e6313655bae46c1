import { describe, expect, it } from 'vitest';
import { StoreResetError } from '../../src/errors.js';
import { RedisRunStore } from '../../src/store/redis-run-store.js';
import { deletePrefix, redisAvailable, testRedis, uniquePrefix } from '../support/redis.js';
import { record } from './run-store.contract.js';

const redisUp = await redisAvailable();

/** A store on its own prefix of the shared server, and its clean-up. */
async function withStore(body: (store: RedisRunStore, redis: ReturnType<typeof testRedis>, prefix: string) => Promise<void>): Promise<void> {
  const prefix = uniquePrefix('marker');
  const redis = testRedis(0);
  const store = new RedisRunStore({ redis, prefix });
  try {
    await body(store, redis, prefix);
  } finally {
    await deletePrefix(redis, prefix);
    await redis.quit();
  }
}

describe.skipIf(!redisUp)('RedisRunStore marker', () => {
  it('swaps a mark in only over the expected one, and reads it back with the write count', () =>
    withStore(async (store) => {
      const { marker } = store;
      expect(await marker.readMark()).toEqual({ mark: undefined, writes: 0 });
      const first = { id: 'm1', generation: 0 };
      expect(await marker.swapMark(undefined, first)).toEqual(first);
      // Someone else's swap from "none" finds the first mark there.
      expect(await marker.swapMark(undefined, { id: 'm2', generation: 0 })).toEqual(first);
      expect(await marker.swapMark({ id: 'other', generation: 0 }, { id: 'm2', generation: 0 })).toEqual(first);
      const second = { id: 'm2', generation: 1 };
      expect(await marker.swapMark(first, second)).toEqual(second);
      expect(await marker.readMark()).toEqual({ mark: second, writes: 0 });
    }));

  it('writes as before while no mark is expected, and leaves no mark behind', () =>
    withStore(async (store, redis, prefix) => {
      expect(await store.compareAndSet(record({ id: 'exec_plain' }), 0)).toBe(true);
      expect(await redis.exists(`${prefix}mark`)).toBe(0);
      expect(store.marker.ownWrites()).toBe(0);
    }));

  it('counts marked writes, and refuses every write once the mark is gone, writing nothing', () =>
    withStore(async (store, redis, prefix) => {
      const mark = await store.marker.swapMark(undefined, { id: 'm1', generation: 0 });
      store.marker.expectMark(mark);
      const a = record({ id: 'exec_a' });
      expect(await store.compareAndSet(a, 0)).toBe(true);
      expect(await store.compareAndSet({ ...a, rev: 2 }, 1)).toBe(true);
      // A lost compare-and-set counts nothing.
      expect(await store.compareAndSet({ ...a, rev: 3 }, 1)).toBe(false);
      expect(store.marker.ownWrites()).toBe(2);
      expect((await store.marker.readMark()).writes).toBe(2);

      await redis.del(`${prefix}mark`);
      const refused = store.compareAndSet(record({ id: 'exec_b' }), 0);
      await expect(refused).rejects.toBeInstanceOf(StoreResetError);
      await expect(refused).rejects.toMatchObject({ expectedMarkId: 'm1', code: 'RUNGATE_ERR_STORE_RESET' });
      expect(await store.get('exec_b')).toBeUndefined();

      // Once the next mark is expected, writes go on.
      const next = await store.marker.swapMark(undefined, { id: 'm2', generation: 1 });
      store.marker.expectMark(next);
      expect(store.marker.ownWrites()).toBe(0);
      expect(await store.compareAndSet(record({ id: 'exec_b' }), 0)).toBe(true);
    }));

  it('refuses writes to a store that went back in time: fewer writes counted than ours reached', () =>
    withStore(async (store, redis, prefix) => {
      store.marker.expectMark(await store.marker.swapMark(undefined, { id: 'm1', generation: 0 }));
      for (const id of ['exec_1', 'exec_2', 'exec_3']) expect(await store.compareAndSet(record({ id }), 0)).toBe(true);
      // As after a restart from a snapshot taken one write earlier.
      await redis.hset(`${prefix}mark`, 'writes', 2);
      await expect(store.compareAndSet(record({ id: 'exec_4' }), 0)).rejects.toBeInstanceOf(StoreResetError);
    }));

  it('tells its listeners when the connection is back after a drop', () =>
    withStore(async (store, redis) => {
      let reconnects = 0;
      const remove = store.marker.onReconnect(() => reconnects++);
      await redis.client('KILL', 'ID', String(await redis.client('ID')));
      await expect.poll(() => reconnects, { timeout: 5000 }).toBe(1);
      remove();
      await redis.ping();
    }));
});
