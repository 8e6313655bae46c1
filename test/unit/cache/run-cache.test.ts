import { afterEach, describe, expect, it } from 'vitest';
import { RunCache } from '../../../src/cache/run-cache.js';
import type { RunRecord } from '../../../src/runs/run-record.js';
import type { RunStatus } from '../../../src/runs/run.js';

function record(id: string, status: RunStatus = 'running', seq = 1): RunRecord {
  return { run: { id, flowId: 'f', status, seq, source: 'webhook' }, rev: seq, trackedAtMs: 0, updatedAtMs: 0 };
}

let cache: RunCache | undefined;
afterEach(() => cache?.close());

describe('RunCache', () => {
  it('keeps caching new records when full, evicting the least recently used', () => {
    cache = new RunCache({ finalTtlSeconds: 3600, activeTtlSeconds: 3600, maxRuns: 1000 });
    for (let i = 0; i < 1000; i++) cache.set(record(`old${i}`, 'success'));
    cache.get('old0'); // read: recently used
    for (let i = 0; i < 5000; i++) cache.set(record(`new${i}`, 'success'));
    expect(cache.size()).toBe(1000);
    expect(cache.get('new4999')?.run.id).toBe('new4999');
    expect(cache.get('new4000')?.run.id).toBe('new4000');
    expect(cache.get('old1')).toBeUndefined();
  });

  it('evicts in least-recently-used order through reads, drops and refills', () => {
    const maxRuns = 200;
    cache = new RunCache({ finalTtlSeconds: 3600, activeTtlSeconds: 3600, maxRuns });
    // A model of the order: a Map's insertion order, an id moved to the end on each use.
    const model = new Map<string, true>();
    const use = (id: string) => {
      model.delete(id);
      model.set(id, true);
    };
    let next = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 300; i++) {
        const id = `run${next++}`;
        cache.set(record(id, i % 3 === 0 ? 'running' : 'success'));
        use(id);
        while (model.size > maxRuns) model.delete(model.keys().next().value!);
        // Every seventh write reads an older cached run: it moves to the back of the queue.
        if (i % 7 === 0) {
          const older = [...model.keys()][Math.floor(model.size / 3)]!;
          expect(cache.get(older)?.run.id).toBe(older);
          use(older);
        }
      }
      if (round % 10 === 9) {
        cache.dropUnfinished();
        for (const id of [...model.keys()]) if (cache.peek(id) === undefined) model.delete(id);
      }
      expect(cache.size()).toBe(model.size);
      for (const id of model.keys()) expect(cache.peek(id)?.run.id).toBe(id);
    }
  });

  it('does not keep its eviction cursor parked: a parked Set iterator holds every table the Set outgrows', () => {
    cache = new RunCache({ finalTtlSeconds: 3600, activeTtlSeconds: 3600, maxRuns: 100 });
    const cursor = () => (cache as unknown as { evictionCursor: unknown }).evictionCursor;
    for (let i = 0; i < 101; i++) cache.set(record(`r${i}`));
    expect(cursor()).toBeDefined();
    // Full and read often, with no insert: dropped after maxRuns uses.
    for (let i = 0; i < 150; i++) cache.get(`r${50 + (i % 40)}`);
    expect(cursor()).toBeUndefined();
    cache.set(record('r-next'));
    expect(cursor()).toBeDefined();
    // Below the bound nothing is evicted: the cursor goes at the next insert.
    cache.dropUnfinished();
    cache.set(record('r-after'));
    expect(cursor()).toBeUndefined();
  });

  it('updates a cached run when full, never leaving its older state cached', () => {
    cache = new RunCache({ finalTtlSeconds: 3600, activeTtlSeconds: 3600, maxRuns: 10 });
    for (let i = 0; i < 10; i++) cache.set(record(`run${i}`));
    cache.set(record('run3', 'success', 2));
    expect(cache.get('run3')?.run.status).toBe('success');
    expect(cache.size()).toBe(10);
    // an older state does not replace a newer one
    cache.set(record('run3', 'running', 1));
    expect(cache.get('run3')?.run.status).toBe('success');
  });

  it('counts only what it holds after drops', () => {
    cache = new RunCache({ finalTtlSeconds: 3600, activeTtlSeconds: 3600, maxRuns: 10 });
    for (let i = 0; i < 6; i++) cache.set(record(`run${i}`, i % 2 ? 'success' : 'running'));
    expect(cache.dropUnfinished()).toBe(3);
    expect(cache.size()).toBe(3);
    for (let i = 0; i < 20; i++) cache.set(record(`more${i}`));
    expect(cache.size()).toBe(10);
  });
});
