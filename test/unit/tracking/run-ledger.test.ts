import { describe, expect, it } from 'vitest';
import { RunCache } from '../../../src/cache/run-cache.js';
import type { RunRecord } from '../../../src/runs/run-record.js';
import type { RunStatus } from '../../../src/runs/run.js';
import { RunLedger } from '../../../src/tracking/run-ledger.js';

function record(id: string, seq: number, status: RunStatus = 'running', extra: Partial<RunRecord> = {}): RunRecord {
  return { run: { id, flowId: 'f', status, seq, source: 'poll' }, rev: seq, trackedAtMs: 0, updatedAtMs: seq, ...extra };
}

function setup(maxRuns = 10) {
  const cache = new RunCache({ finalTtlSeconds: 60, activeTtlSeconds: 60, maxRuns: 100 });
  return { cache, ledger: new RunLedger({ maxRuns, cache }) };
}

describe('RunLedger', () => {
  it('holds the newest copy of each unfinished run, whatever order they are seen in', () => {
    const { ledger } = setup();
    ledger.observe(record('a', 2));
    ledger.observe(record('a', 1));
    ledger.observe(record('b', 1, 'queued'));
    expect(ledger.copyOf('a')?.run.seq).toBe(2);
    expect(ledger.copies().map((copy) => [copy.run.id, copy.run.seq])).toEqual([
      ['a', 2],
      ['b', 1],
    ]);
  });

  it('lets the hot cache keep finished runs, yet remembers their owner and webhook secret', () => {
    const { ledger, cache } = setup();
    ledger.observe(record('a', 1, 'queued', { owner: 'alice', webhookSecret: 'whsec_a' }));
    const final = record('a', 2, 'success');
    ledger.observe(final);
    expect(ledger.copyOf('a')).toBeUndefined();
    expect(ledger.notesOf('a')).toEqual({ owner: 'alice', webhookSecret: 'whsec_a' });
    cache.set(final);
    expect(ledger.copyOf('a')).toEqual(final);
    expect(ledger.copies()).toEqual([final]);
    // An owner learnt after the first sighting (a webhook came before the start's answer).
    ledger.observe(record('b', 1, 'success'));
    ledger.observe(record('b', 1, 'success', { owner: 'bob', rev: 2 }));
    expect(ledger.notesOf('b')).toEqual({ owner: 'bob' });
    expect(ledger.notesOf('nobody')).toBeUndefined();
  });

  it('prefers whichever of its copy and the cache is newer', () => {
    const { ledger, cache } = setup();
    ledger.observe(record('a', 3));
    cache.set(record('a', 2));
    expect(ledger.copyOf('a')?.run.seq).toBe(3);
    cache.set(record('a', 4));
    expect(ledger.copyOf('a')?.run.seq).toBe(4);
    expect(ledger.copies().map((copy) => copy.run.seq)).toEqual([4]);
  });

  it('forgets the run seen longest ago beyond its bound', () => {
    const { ledger } = setup(2);
    ledger.observe(record('a', 1));
    ledger.observe(record('b', 1));
    ledger.observe(record('a', 2));
    ledger.observe(record('c', 1));
    expect(ledger.size).toBe(2);
    expect(ledger.copyOf('b')).toBeUndefined();
    expect(ledger.copyOf('a')?.run.seq).toBe(2);
  });
});
