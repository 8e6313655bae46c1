import { describe, expect, it } from 'vitest';
import { mergeRun } from '../../../src/runs/merge-run.js';
import { seqFloor } from '../../../src/runs/seq-rule.js';
import type { RunRecord } from '../../../src/runs/run-record.js';

function changed(outcome: ReturnType<typeof mergeRun>): RunRecord {
  if (outcome.kind !== 'changed' && outcome.kind !== 'annotated') throw new Error(`expected a write, got ${outcome.kind}`);
  return outcome.record;
}

describe('mergeRun', () => {
  const created = changed(mergeRun(undefined, { id: 'exec_1', flowId: 'f', status: 'pending', createdAt: 't0' }, 'request', { owner: 'alice', startedHere: true }, 1000));

  it('creates a run at seq 1 with the status normalised and the annotations kept', () => {
    expect(created.run).toEqual({ id: 'exec_1', flowId: 'f', status: 'queued', seq: 1, source: 'request', createdAt: 't0' });
    expect(created).toMatchObject({ rev: 1, owner: 'alice', startedHere: true, trackedAtMs: 1000, updatedAtMs: 1000 });
  });

  it('moves forward with seq + 1 and the new source', () => {
    const running = changed(mergeRun(created, { id: 'exec_1', status: 'running', progress: { step: 'parse', percentage: 10 } }, 'poll', {}, 2000));
    expect(running.run).toMatchObject({ status: 'running', seq: 2, source: 'poll', progress: { step: 'parse', percentage: 10 } });
    expect(running.rev).toBe(2);
    const done = changed(mergeRun(running, { id: 'exec_1', status: 'completed', output: { a: 1 } }, 'webhook', {}, 3000));
    expect(done.run).toMatchObject({ status: 'success', seq: 3, source: 'webhook', output: { a: 1 } });
    expect(done.run.progress).toBeUndefined();
  });

  it('never moves back, and a final state never changes', () => {
    const running = changed(mergeRun(created, { id: 'exec_1', status: 'running' }, 'poll', {}, 2000));
    expect(mergeRun(running, { id: 'exec_1', status: 'queued' }, 'poll', {}, 3000)).toEqual({ kind: 'unchanged' });
    const failed = changed(mergeRun(running, { id: 'exec_1', status: 'failed', error: { code: 'X', message: 'm' } }, 'webhook', {}, 3000));
    for (const status of ['success', 'cancelled', 'running', 'failed', 'queued']) {
      expect(mergeRun(failed, { id: 'exec_1', status, output: { late: true } }, 'poll', {}, 4000)).toEqual({ kind: 'unchanged' });
    }
  });

  it('counts a new progress as a change within running, not a repeat of the same', () => {
    const a = changed(mergeRun(created, { id: 'exec_1', status: 'running', progress: { step: 's', percentage: 10 } }, 'poll', {}, 2000));
    expect(mergeRun(a, { id: 'exec_1', status: 'running', progress: { step: 's', percentage: 10 } }, 'poll', {}, 2100)).toEqual({ kind: 'unchanged' });
    expect(mergeRun(a, { id: 'exec_1', status: 'running' }, 'poll', {}, 2100)).toEqual({ kind: 'unchanged' });
    const b = changed(mergeRun(a, { id: 'exec_1', status: 'running', progress: { step: 's', percentage: 60 } }, 'poll', {}, 2200));
    expect(b.run.seq).toBe(3);
  });

  it('keeps gateway fields from being overwritten by news', () => {
    const next = changed(mergeRun(created, { id: 'exec_1', status: 'running', seq: 99, source: 'evil', flowId: 'other', stale: true }, 'poll', {}, 2000));
    expect(next.run).toMatchObject({ seq: 2, source: 'poll', flowId: 'f' });
    expect(next.run.stale).toBeUndefined();
  });

  it('writes annotations that arrive late without a new seq', () => {
    const fromHook = changed(mergeRun(undefined, { id: 'exec_2', flowId: 'f', status: 'success' }, 'webhook', {}, 1000));
    const outcome = mergeRun(fromHook, { id: 'exec_2', flowId: 'f', status: 'queued' }, 'request', { owner: 'bob', startedHere: true }, 1100);
    expect(outcome.kind).toBe('annotated');
    const record = changed(outcome);
    expect(record.run).toEqual(fromHook.run);
    expect(record.owner).toBe('bob');
    expect(record.rev).toBe(2);
    // An owner is never replaced.
    expect(mergeRun(record, { id: 'exec_2' }, 'request', { owner: 'mallory' }, 1200)).toEqual({ kind: 'unchanged' });
  });

  it('marks an unfinished run stale once, and news revives it', () => {
    const stale = changed(mergeRun(created, { id: 'exec_1' }, 'poll', { stale: true }, 2000));
    expect(stale.run).toMatchObject({ status: 'queued', stale: true, seq: 2 });
    expect(mergeRun(stale, { id: 'exec_1' }, 'poll', { stale: true }, 2100)).toEqual({ kind: 'unchanged' });
    const revived = changed(mergeRun(stale, { id: 'exec_1', status: 'success' }, 'webhook', {}, 3000));
    expect(revived.run.stale).toBeUndefined();
    expect(revived.run.seq).toBe(3);
  });

  it('refuses unknown statuses and new runs without a flow', () => {
    expect(mergeRun(created, { id: 'exec_1', status: 'exploded' }, 'poll', {}, 1).kind).toBe('invalid');
    expect(mergeRun(undefined, { id: 'exec_9', status: 'queued' }, 'poll', {}, 1).kind).toBe('invalid');
    expect(mergeRun(undefined, { id: 'exec_9' , flowId: 'f' }, 'poll', {}, 1).kind).toBe('invalid');
  });

  it('lifts every change above the store generation\'s seq floor, one at a time after it', () => {
    const floor = seqFloor(2);
    const fresh = changed(mergeRun(undefined, { id: 'exec_3', flowId: 'f', status: 'success' }, 'webhook', {}, 1000, floor));
    expect(fresh.run.seq).toBe(floor + 1);
    // A record from before the loss (seq 4) moves above the floor, and on by one from there.
    const old = changed(mergeRun(created, { id: 'exec_1', status: 'running' }, 'poll', {}, 2000));
    const running = changed(mergeRun({ ...old, run: { ...old.run, seq: 4 } }, { id: 'exec_1', status: 'running', progress: { step: 's', percentage: 5 } }, 'poll', {}, 3000, floor));
    expect(running.run.seq).toBe(floor + 1);
    const done = changed(mergeRun(running, { id: 'exec_1', status: 'success' }, 'webhook', {}, 4000, floor));
    expect(done.run.seq).toBe(floor + 2);
    // Annotations never take a seq, floor or not.
    const annotated = changed(mergeRun(fresh, { id: 'exec_3' }, 'request', { owner: 'carol' }, 5000, seqFloor(3)));
    expect(annotated.run.seq).toBe(floor + 1);
  });
});

describe('mergeRun: the relay outbox entry', () => {
  const url = 'https://hooks.example/doclo?token=abc';
  const started = changed(mergeRun(undefined, { id: 'exec_r', flowId: 'f', status: 'queued' }, 'request', { webhookUrl: url }, 1000));

  it('keeps the caller URL with the run, and creates no delivery before the run is final', () => {
    expect(started.webhookUrl).toBe(url);
    expect(started.delivery).toBeUndefined();
    expect(changed(mergeRun(started, { id: 'exec_r', status: 'running' }, 'poll', {}, 1500)).delivery).toBeUndefined();
  });

  it('creates one pending delivery in the write that makes the run final, with an id derived from the run', () => {
    const done = changed(mergeRun(started, { id: 'exec_r', status: 'completed' }, 'poll', {}, 2000));
    expect(done.delivery).toMatchObject({ url, event: 'execution.completed', status: 'pending', attempts: 0, createdAtMs: 2000, dueAtMs: 2000 });
    const failed = changed(mergeRun(started, { id: 'exec_r', status: 'failed' }, 'webhook', {}, 2000));
    const cancelled = changed(mergeRun(started, { id: 'exec_r', status: 'cancelled' }, 'request', {}, 2000));
    expect([failed.delivery?.event, cancelled.delivery?.event]).toEqual(['execution.failed', 'execution.cancelled']);
    expect(failed.delivery?.id).toBe(done.delivery?.id);
    expect(done.delivery?.id).toMatch(/^msg_[A-Za-z0-9_-]{24}$/);
  });

  it('creates it when the URL is learnt after the run is already final (a webhook came before the start answer)', () => {
    const early = changed(mergeRun(undefined, { id: 'exec_e', flowId: 'f', status: 'completed' }, 'webhook', {}, 1000));
    expect(early.delivery).toBeUndefined();
    const outcome = mergeRun(early, { id: 'exec_e', status: 'queued' }, 'request', { webhookUrl: url }, 1100);
    expect(outcome.kind).toBe('annotated');
    expect(changed(outcome).delivery).toMatchObject({ status: 'pending', event: 'execution.completed' });
  });

  it('never creates a second one', () => {
    const done = changed(mergeRun(started, { id: 'exec_r', status: 'completed' }, 'poll', {}, 2000));
    const delivered = { ...done, delivery: { ...done.delivery!, status: 'delivered' as const } };
    expect(mergeRun(delivered, { id: 'exec_r', status: 'completed' }, 'webhook', { webhookUrl: 'https://other.example/' }, 3000)).toEqual({ kind: 'unchanged' });
  });
});
