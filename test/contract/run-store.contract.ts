import { describe, expect, it } from 'vitest';
import type { RunStatus } from '../../src/runs/run.js';
import { type RunStore } from '../../src/store/run-store.js';
import { InvalidCursorError } from '../../src/errors.js';
import type { RunRecord } from '../../src/runs/run-record.js';
import { mergeRun } from '../../src/runs/merge-run.js';
import { TIMELINE_KEEP } from '../../src/runs/run-timeline.js';
import { newDelivery, type Delivery } from '../../src/runs/delivery.js';

/** One store under test and how to dispose of it. */
export interface StoreUnderTest {
  store: RunStore;
  /** Closes the store (if still open) and removes what it left behind. */
  dispose(): Promise<void>;
}

/** Makes a fresh, empty store for each test. */
export type StoreFactory = () => Promise<StoreUnderTest>;

let counter = 0;

/** A record as the writer would store it. */
export function record(
  fields: { id?: string; flowId?: string; status?: RunStatus; rev?: number; owner?: string; updatedAtMs?: number; seq?: number } = {},
): RunRecord {
  const rev = fields.rev ?? 1;
  return {
    run: {
      id: fields.id ?? `exec_${Date.now()}_${++counter}`,
      flowId: fields.flowId ?? 'flow-a',
      status: fields.status ?? 'queued',
      seq: fields.seq ?? rev,
      source: 'request',
      output: { note: 'ü ✓ "quoted"' },
    },
    rev,
    ...(fields.owner === undefined ? {} : { owner: fields.owner }),
    trackedAtMs: 1_700_000_000_000,
    updatedAtMs: fields.updatedAtMs ?? 1_700_000_000_000 + rev,
  };
}

/** Writes `next` over whatever is stored (test shortcut: reads the current rev first). */
async function put(store: RunStore, next: RunRecord): Promise<RunRecord> {
  const current = await store.get(next.run.id);
  const written = { ...next, rev: (current?.rev ?? 0) + 1 };
  expect(await store.compareAndSet(written, current?.rev ?? 0)).toBe(true);
  return written;
}

async function within<T>(factory: StoreFactory, body: (store: RunStore) => Promise<T>): Promise<T> {
  const subject = await factory();
  try {
    return await body(subject.store);
  } finally {
    await subject.dispose();
  }
}

/** The RunStore contract (see src/store/run-store.ts), run against one driver. */
export function runStoreContract(name: string, factory: StoreFactory): void {
  describe(`RunStore contract: ${name}`, () => {
    it('gets nothing for an unknown run', () =>
      within(factory, async (store) => {
        expect(await store.get('exec_nobody')).toBeUndefined();
      }));

    it('inserts only when absent and updates only with the matching rev', () =>
      within(factory, async (store) => {
        const first = record({ rev: 1 });
        const id = first.run.id;
        expect(await store.compareAndSet(first, 1)).toBe(false);
        expect(await store.get(id)).toBeUndefined();
        expect(await store.compareAndSet(first, 0)).toBe(true);
        expect(await store.get(id)).toEqual(first);
        expect(await store.compareAndSet(record({ id, rev: 1, status: 'failed' }), 0)).toBe(false);

        const second = record({ id, rev: 2, status: 'running' });
        expect(await store.compareAndSet(second, 2)).toBe(false);
        expect(await store.compareAndSet(second, 1)).toBe(true);
        expect(await store.get(id)).toEqual(second);
        expect(await store.compareAndSet(record({ id, rev: 3, status: 'success' }), 1)).toBe(false);
        expect((await store.get(id))?.run.status).toBe('running');
      }));

    it("keeps the run's timeline in the record, written by the same compare-and-set as each change, bounded", () =>
      within(factory, async (store) => {
        const id = `exec_timeline_${++counter}`;
        const apply = async (news: Record<string, unknown>, source: 'request' | 'poll' | 'webhook', nowMs: number) => {
          const current = await store.get(id);
          const outcome = mergeRun(current, { id, ...news }, source, {}, nowMs);
          if (outcome.kind !== 'changed') throw new Error(`expected a change, got ${outcome.kind}`);
          expect(await store.compareAndSet(outcome.record, current?.rev ?? 0)).toBe(true);
          return outcome.record;
        };
        const t0 = Date.UTC(2026, 0, 1);
        await apply({ flowId: 'flow-t', status: 'queued' }, 'request', t0);
        for (let step = 1; step <= 60; step++) await apply({ status: 'running', progress: { step: `page ${step}`, percentage: step } }, 'poll', t0 + step * 100);
        // A racing writer that lost its compare-and-set leaves nothing in the timeline.
        const stale = await store.get(id);
        const winner = await apply({ status: 'success', output: { total: 1 } }, 'webhook', t0 + 9300);
        const loser = mergeRun(stale, { id, status: 'failed' }, 'poll', {}, t0 + 9400);
        expect(loser.kind).toBe('changed');
        if (loser.kind === 'changed') expect(await store.compareAndSet(loser.record, stale!.rev)).toBe(false);

        const timeline = (await store.get(id))!.timeline!;
        expect(timeline).toEqual(winner.timeline);
        // The first change and the last TIMELINE_KEEP: 62 changes in all.
        expect(timeline).toHaveLength(TIMELINE_KEEP + 1);
        expect(timeline[0]).toEqual({ seq: 1, status: 'queued', source: 'request', at: new Date(t0).toISOString() });
        expect(timeline.at(-1)).toEqual({ seq: 62, status: 'success', source: 'webhook', at: new Date(t0 + 9300).toISOString() });
        expect(timeline[1]).toEqual({ seq: 13, status: 'running', source: 'poll', at: new Date(t0 + 1200).toISOString(), progress: { step: 'page 12', percentage: 12 } });
        expect(timeline.map((entry) => entry.seq).slice(1)).toEqual(Array.from({ length: TIMELINE_KEEP }, (_, i) => 13 + i));
      }));

    it('lets exactly one of many racing writers win', () =>
      within(factory, async (store) => {
        const base = record({ rev: 1 });
        const id = base.run.id;
        const inserts = await Promise.all(Array.from({ length: 20 }, (_, i) => store.compareAndSet({ ...base, updatedAtMs: i }, 0)));
        expect(inserts.filter(Boolean)).toHaveLength(1);

        const updates = await Promise.all(
          Array.from({ length: 20 }, (_, i) => store.compareAndSet(record({ id, rev: 2, seq: 2, status: 'running', updatedAtMs: 100 + i }), 1)),
        );
        expect(updates.filter(Boolean)).toHaveLength(1);
        const stored = await store.get(id);
        expect(stored?.rev).toBe(2);
        expect(stored?.updatedAtMs).toBe(100 + updates.indexOf(true));
      }));

    it('lists newest first, filters by flow, status and owner, and pages with cursors', () =>
      within(factory, async (store) => {
        const written: RunRecord[] = [];
        for (let i = 0; i < 13; i++) {
          written.push(
            await put(
              store,
              record({
                flowId: i % 2 === 0 ? 'even' : 'odd',
                status: i % 3 === 0 ? 'success' : 'running',
                ...(i < 5 ? { owner: 'alice' } : {}),
              }),
            ),
          );
        }
        // An update does not move a run in the order.
        const moved = await put(store, { ...written[0]!, run: { ...written[0]!.run, status: 'failed', seq: 9 } });
        written[0] = moved;
        const newestFirst = [...written].reverse().map((r) => r.run.id);

        const all = await store.list({ limit: 50 });
        expect(all.records.map((r) => r.run.id)).toEqual(newestFirst);
        expect(all.nextCursor).toBeUndefined();
        expect(all.records.at(-1)?.run.status).toBe('failed');

        const paged: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await store.list({ limit: 4, ...(cursor === undefined ? {} : { cursor }) });
          paged.push(...page.records.map((r) => r.run.id));
          cursor = page.nextCursor;
          pages++;
          expect(page.records.length).toBeLessThanOrEqual(4);
        } while (cursor !== undefined && pages < 10);
        expect(paged).toEqual(newestFirst);
        expect(pages).toBe(4);

        const exact = await store.list({ limit: 13 });
        expect(exact.records).toHaveLength(13);
        expect(exact.nextCursor).toBeUndefined();

        const even = await store.list({ flowId: 'even', limit: 50 });
        expect(even.records.map((r) => r.run.id)).toEqual(written.filter((r) => r.run.flowId === 'even').reverse().map((r) => r.run.id));

        const success = written.filter((r) => r.run.status === 'success').reverse().map((r) => r.run.id);
        const firstSuccess = await store.list({ status: 'success', limit: 2 });
        expect(firstSuccess.records.map((r) => r.run.id)).toEqual(success.slice(0, 2));
        expect(firstSuccess.nextCursor).toBeDefined();
        const restSuccess = await store.list({ status: 'success', limit: 50, cursor: firstSuccess.nextCursor! });
        expect(restSuccess.records.map((r) => r.run.id)).toEqual(success.slice(2));

        const alice = await store.list({ owner: 'alice', limit: 50 });
        expect(alice.records.map((r) => r.run.id)).toEqual(written.slice(0, 5).reverse().map((r) => r.run.id));
        const aliceOdd = await store.list({ owner: 'alice', flowId: 'odd', status: 'running', limit: 50 });
        expect(aliceOdd.records.map((r) => r.run.id)).toEqual(
          written.filter((r, i) => i < 5 && r.run.flowId === 'odd' && r.run.status === 'running').reverse().map((r) => r.run.id),
        );
        expect((await store.list({ flowId: 'none', limit: 5 })).records).toEqual([]);
      }));

    it('keeps a cursor valid while runs are added', () =>
      within(factory, async (store) => {
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push((await put(store, record())).run.id);
        const first = await store.list({ limit: 2 });
        await put(store, record());
        const second = await store.list({ limit: 2, cursor: first.nextCursor! });
        expect(second.records.map((r) => r.run.id)).toEqual([ids[2], ids[1]]);
      }));

    it('rejects a cursor it did not hand out', () =>
      within(factory, async (store) => {
        await put(store, record());
        for (const cursor of ['garbage!', Buffer.from('0').toString('base64url'), Buffer.from('-3').toString('base64url'), Buffer.from('1e5').toString('base64url'), '']) {
          await expect(store.list({ limit: 5, cursor })).rejects.toBeInstanceOf(InvalidCursorError);
        }
      }));

    it('lists unfinished runs, and only those', () =>
      within(factory, async (store) => {
        const queued = await put(store, record({ status: 'queued' }));
        const running = await put(store, record({ status: 'running' }));
        const done = await put(store, record({ status: 'success' }));
        const later = await put(store, record({ status: 'running' }));
        await put(store, { ...later, run: { ...later.run, status: 'cancelled', seq: 5 } });
        const ids = (await store.listUnfinished()).map((r) => r.run.id).sort();
        expect(ids).toEqual([queued.run.id, running.run.id].sort());
        expect(ids).not.toContain(done.run.id);
      }));

    it('hands out the unfinished runs in batches of at most the size asked, each once', () =>
      within(factory, async (store) => {
        const unfinished: string[] = [];
        for (let i = 0; i < 7; i++) unfinished.push((await put(store, record({ status: i % 2 === 0 ? 'running' : 'queued' }))).run.id);
        await put(store, record({ status: 'success' }));
        const given = record({ status: 'running' });
        const stale = await put(store, { ...given, run: { ...given.run, stale: true } });
        const sizes: number[] = [];
        const seen: string[] = [];
        const staleOnes: string[] = [];
        for await (const batch of store.unfinishedBatches(3)) {
          sizes.push(batch.length);
          seen.push(...batch.map((r) => r.id));
          staleOnes.push(...batch.filter((r) => r.stale).map((r) => r.id));
        }
        expect(sizes.every((size) => size >= 1 && size <= 3)).toBe(true);
        expect(new Set(seen).size).toBe(seen.length);
        expect(seen.sort()).toEqual([...unfinished, stale.run.id].sort());
        expect(staleOnes).toEqual([stale.run.id]);
      }));

    it('counts unfinished runs by status, stale ones apart', () =>
      within(factory, async (store) => {
        await put(store, record({ status: 'queued' }));
        await put(store, record({ status: 'running' }));
        await put(store, record({ status: 'running' }));
        await put(store, record({ status: 'success' }));
        const stale = record({ status: 'running' });
        await put(store, { ...stale, run: { ...stale.run, stale: true } });
        expect(await store.countUnfinished()).toEqual({ queued: 1, running: 2, stale: 1 });
      }));

    it('prunes finished runs written before the cutoff, and nothing else', () =>
      within(factory, async (store) => {
        const oldDone = await put(store, record({ status: 'success', updatedAtMs: 1000, owner: 'bob', flowId: 'p' }));
        const oldFailed = await put(store, record({ status: 'failed', updatedAtMs: 1500, flowId: 'p' }));
        const newDone = await put(store, record({ status: 'success', updatedAtMs: 5000, flowId: 'p' }));
        const oldRunning = await put(store, record({ status: 'running', updatedAtMs: 1000, flowId: 'p' }));
        expect(await store.pruneFinished(2000)).toBe(2);
        expect(await store.get(oldDone.run.id)).toBeUndefined();
        expect(await store.get(oldFailed.run.id)).toBeUndefined();
        expect(await store.get(newDone.run.id)).toBeDefined();
        expect(await store.get(oldRunning.run.id)).toBeDefined();
        expect((await store.list({ flowId: 'p', limit: 10 })).records.map((r) => r.run.id)).toEqual([oldRunning.run.id, newDone.run.id]);
        expect((await store.list({ owner: 'bob', limit: 10 })).records).toEqual([]);
        expect(await store.pruneFinished(2000)).toBe(0);
      }));

    it('indexes pending deliveries by due time (lease ends included) in the same write as the record', () =>
      within(factory, async (store) => {
        const withDelivery = (fields: Parameters<typeof record>[0], delivery: Partial<Delivery>): RunRecord => {
          const base = record({ status: 'success', ...fields });
          return { ...base, webhookUrl: 'https://hooks.example/x', delivery: { ...newDelivery(base.run.id, 'https://hooks.example/x', 'execution.completed', 1000), ...delivery } };
        };
        const late = await put(store, withDelivery({}, { dueAtMs: 3000 }));
        const early = await put(store, withDelivery({}, { dueAtMs: 1000 }));
        const leased = await put(store, withDelivery({}, { dueAtMs: 1000, lease: { owner: 'a', untilMs: 2500 } }));
        await put(store, withDelivery({}, { status: 'delivered', dueAtMs: undefined }));
        await put(store, record({ status: 'success' }));
        expect(await store.listDueDeliveries(999, 10)).toEqual([]);
        expect(await store.listDueDeliveries(2000, 10)).toEqual([early.run.id]);
        expect(await store.listDueDeliveries(5000, 10)).toEqual([early.run.id, leased.run.id, late.run.id]);
        expect(await store.listDueDeliveries(5000, 2)).toEqual([early.run.id, leased.run.id]);
        expect(await store.countPendingDeliveries()).toBe(3);
        // Done: out of the index by the write that says so.
        await put(store, { ...early, delivery: { ...early.delivery!, status: 'delivered', deliveredAtMs: 1100 } });
        expect(await store.listDueDeliveries(5000, 10)).toEqual([leased.run.id, late.run.id]);
        expect(await store.countPendingDeliveries()).toBe(2);
        // A write that lost its compare-and-set leaves the index as it was.
        expect(await store.compareAndSet({ ...late, rev: 99, delivery: undefined }, 42)).toBe(false);
        expect(await store.listDueDeliveries(5000, 10)).toContain(late.run.id);
      }));

    it('does not prune a finished run whose delivery is pending', () =>
      within(factory, async (store) => {
        const base = record({ status: 'success', updatedAtMs: 1000 });
        const pending = await put(store, { ...base, delivery: newDelivery(base.run.id, 'https://hooks.example/x', 'execution.completed', 1000) });
        expect(await store.pruneFinished(2000)).toBe(0);
        expect(await store.get(pending.run.id)).toBeDefined();
        await put(store, { ...pending, updatedAtMs: 1000, delivery: { ...pending.delivery!, status: 'failed', dueAtMs: undefined } });
        expect(await store.pruneFinished(2000)).toBe(1);
      }));

    it('answers ping', () =>
      within(factory, async (store) => {
        await expect(store.ping()).resolves.toBeUndefined();
      }));
  });
}
