import { describe, expect, it } from 'vitest';
import { restoreRun } from '../../../src/runs/restore-run.js';
import type { RunRecord } from '../../../src/runs/run-record.js';
import type { RunStatus } from '../../../src/runs/run.js';
import { seqFloor } from '../../../src/runs/seq-rule.js';

const FLOOR = seqFloor(1);

function record(seq: number, status: RunStatus, extra: Partial<RunRecord> = {}, progress?: number): RunRecord {
  return {
    run: { id: 'exec_1', flowId: 'f', status, seq, source: 'webhook', ...(progress === undefined ? {} : { progress: { step: 's', percentage: progress } }) },
    rev: seq,
    trackedAtMs: 1000,
    updatedAtMs: 1000 + seq,
    ...extra,
  };
}

describe('restoreRun', () => {
  it('puts a copy back as it was, seq included, where the store has nothing', () => {
    const copy = record(4, 'running', { owner: 'alice', webhookSecret: 'whsec_x', startedHere: true });
    const outcome = restoreRun(undefined, copy, FLOOR, 9000);
    expect(outcome).toEqual({ kind: 'restored', record: { ...copy, rev: copy.rev + 1, updatedAtMs: 9000 } });
  });

  it('takes a copy that is further along, at its own seq when that is above the stored one', () => {
    const stored = record(3, 'running', {}, 10);
    const copy = record(5, 'running', { owner: 'alice' }, 40);
    const outcome = restoreRun(stored, copy, FLOOR, 9000);
    expect(outcome.kind).toBe('restored');
    if (outcome.kind !== 'restored') return;
    expect(outcome.record.run).toEqual(copy.run);
    expect(outcome.record).toMatchObject({ owner: 'alice', rev: stored.rev + 1, updatedAtMs: 9000 });
  });

  it('takes a final copy over a record recreated since, above both seqs', () => {
    const recreated = record(FLOOR + 1, 'running', { trackedAtMs: 8000 });
    const copy = record(5, 'success', { owner: 'alice', trackedAtMs: 1000, startedHere: true });
    const outcome = restoreRun(recreated, copy, FLOOR, 9000);
    expect(outcome.kind).toBe('restored');
    if (outcome.kind !== 'restored') return;
    expect(outcome.record.run).toMatchObject({ status: 'success', seq: FLOOR + 2 });
    // The copy knew the run longer: its first-seen time and "started here" come back too.
    expect(outcome.record).toMatchObject({ owner: 'alice', trackedAtMs: 1000, startedHere: true });
  });

  it('gives a record recreated at a low seq a seq above the copy, so holders of the copy get its state', () => {
    // Written by an instance that did not know the run (seq 1), while peers elsewhere hold seq 4.
    const recreated = record(1, 'success');
    const copy = record(4, 'running', { owner: 'alice' });
    const outcome = restoreRun(recreated, copy, FLOOR, 9000);
    expect(outcome.kind).toBe('restored');
    if (outcome.kind !== 'restored') return;
    expect(outcome.record.run).toMatchObject({ status: 'success', seq: FLOOR + 1 });
    expect(outcome.record.owner).toBe('alice');
  });

  it('keeps what the store has when it is newer, learning only the owner', () => {
    const stored = record(FLOOR + 1, 'success', { trackedAtMs: 500 });
    const copy = record(4, 'running', { owner: 'alice', trackedAtMs: 1000 });
    const outcome = restoreRun(stored, copy, FLOOR, 9000);
    expect(outcome.kind).toBe('annotated');
    if (outcome.kind !== 'annotated') return;
    expect(outcome.record.run).toEqual(stored.run);
    expect(outcome.record).toMatchObject({ owner: 'alice', trackedAtMs: 500 });
  });

  it('changes nothing when the store has the copy already, and never replaces an owner', () => {
    const stored = record(4, 'running', { owner: 'alice' });
    expect(restoreRun(stored, record(4, 'running', { owner: 'mallory' }), FLOOR, 9000)).toEqual({ kind: 'unchanged' });
    // Two finals: a final state never changes, whichever seq.
    expect(restoreRun(record(3, 'success'), record(6, 'success'), FLOOR, 9000)).toEqual({ kind: 'unchanged' });
  });

  it('converges to one state whatever order instances write back their copies in', () => {
    const copies = [record(4, 'running', { owner: 'alice' }, 40), record(5, 'running', {}, 60), record(3, 'queued')];
    const orders = [
      [0, 1, 2],
      [2, 1, 0],
      [1, 0, 2],
      [2, 0, 1],
    ];
    const results = orders.map((order) => {
      let stored: RunRecord | undefined;
      for (const index of order) {
        const outcome = restoreRun(stored, copies[index]!, FLOOR, 9000);
        if (outcome.kind !== 'unchanged') stored = outcome.record;
      }
      return { run: stored!.run, owner: stored!.owner };
    });
    for (const result of results) expect(result).toEqual({ run: copies[1]!.run, owner: 'alice' });
  });
});
