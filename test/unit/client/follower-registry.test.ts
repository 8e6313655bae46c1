import { describe, expect, it } from 'vitest';
import { CARRIED_IDS_BOUND, FollowerRegistry, REMEMBERED_RUNS, type RunListener } from '../../../packages/client/src/push/follower-registry.js';
import { BATCH_SIZE, SINGLE_FRAMES_UP_TO, resubscribeFrames } from '../../../packages/client/src/push/subscribe-frames.js';
import type { Run } from '../../../packages/client/src/run.js';

const run = (id: string, seq: number, status: Run['status']): Run => ({ id, flowId: 'f', status, seq, source: 'webhook' });
const listener = (): RunListener => ({ onRun: () => undefined, onError: () => undefined });

describe('FollowerRegistry', () => {
  it('accepts a state only when its seq or its status rank is higher than what was handed over', () => {
    const registry = new FollowerRegistry();
    const { follower, fresh } = registry.follow('exec_a', listener());
    expect(fresh).toBe(true);
    expect(registry.accept(follower, run('exec_a', 1, 'queued'))).toBe(true);
    expect(registry.accept(follower, run('exec_a', 1, 'queued'))).toBe(false);
    expect(registry.accept(follower, run('exec_a', 3, 'running'))).toBe(true);
    expect(registry.accept(follower, run('exec_a', 2, 'running'))).toBe(false);
    // A gateway that lost its store restarts seq, but a higher rank is still news.
    expect(registry.accept(follower, run('exec_a', 1, 'success'))).toBe(true);
    expect(follower.lastSeq).toBe(3);
    // Nothing after a final state.
    expect(registry.accept(follower, run('exec_a', 9, 'failed'))).toBe(false);
    expect(follower.latest?.status).toBe('success');
  });

  it('counts the followed runs that can still change (the socket is wanted while there is one)', () => {
    const registry = new FollowerRegistry();
    const a = listener();
    const b = listener();
    const { follower } = registry.follow('exec_a', a);
    registry.follow('exec_a', b);
    expect(registry.hasUnfinished).toBe(true);
    expect(registry.unfollow(follower, a)).toBe(false);
    expect(registry.accept(follower, run('exec_a', 2, 'cancelled'))).toBe(true);
    expect(registry.hasUnfinished).toBe(false);
    expect(registry.unfollow(follower, b)).toBe(true);
    expect(registry.get('exec_a')).toBeUndefined();
    const { follower: other } = registry.follow('exec_b', a);
    expect(registry.hasUnfinished).toBe(true);
    expect(registry.remove(other)).toBe(true);
    expect(registry.remove(other)).toBe(false);
    expect(registry.hasUnfinished).toBe(false);
  });

  it('starts a new follower from the remembered state, and forgets the oldest past REMEMBERED_RUNS', () => {
    const registry = new FollowerRegistry();
    const first = registry.follow('exec_first', listener()).follower;
    registry.accept(first, run('exec_first', 4, 'success'));
    registry.remove(first);
    const again = registry.follow('exec_first', listener());
    expect(again.fresh).toBe(true);
    expect(again.follower.latest?.seq).toBe(4);
    expect(again.follower.final).toBe(true);
    expect(registry.hasUnfinished).toBe(false);
    registry.remove(again.follower);
    for (let i = 0; i < REMEMBERED_RUNS; i += 1) {
      const { follower } = registry.follow(`exec_${i}`, listener());
      registry.accept(follower, run(`exec_${i}`, 1, 'running'));
      registry.remove(follower);
    }
    expect(registry.follow('exec_first', listener()).follower.latest).toBeUndefined();
    expect(registry.follow(`exec_${REMEMBERED_RUNS - 1}`, listener()).follower.lastSeq).toBe(1);
  });

  it('records the runs a socket carried up to CARRIED_IDS_BOUND, then counts every run as carried', () => {
    const registry = new FollowerRegistry();
    registry.noteCarried('exec_a');
    expect(registry.mayHaveCarried('exec_a')).toBe(true);
    expect(registry.mayHaveCarried('exec_b')).toBe(false);
    registry.startSocket();
    expect(registry.mayHaveCarried('exec_a')).toBe(false);
    for (let i = 0; i < CARRIED_IDS_BOUND; i += 1) registry.noteCarried(`exec_${i}`);
    expect(registry.mayHaveCarried('exec_never')).toBe(false);
    registry.noteCarried('exec_one_more');
    // Past the bound the registry cannot tell, so it assumes the worst: one REST read, never a miss.
    expect(registry.mayHaveCarried('exec_never')).toBe(true);
    registry.startSocket();
    expect(registry.mayHaveCarried('exec_never')).toBe(false);
  });
});

describe('resubscribeFrames', () => {
  it('sends one frame per run, with since when the app has a state, up to SINGLE_FRAMES_UP_TO', () => {
    const runs = Array.from({ length: SINGLE_FRAMES_UP_TO }, (_, i) => ({ runId: `exec_${i}`, lastSeq: i % 2 }));
    const frames = resubscribeFrames(runs);
    expect(frames).toHaveLength(SINGLE_FRAMES_UP_TO);
    expect(frames[0]).toEqual({ frame: { op: 'subscribe', runId: 'exec_0' }, runIds: ['exec_0'] });
    expect(frames[1]).toEqual({ frame: { op: 'subscribe', runId: 'exec_1', since: 1 }, runIds: ['exec_1'] });
  });

  it('batches more runs by seq, each batch with the lowest since in it', () => {
    const runs = Array.from({ length: BATCH_SIZE + 20 }, (_, i) => ({ runId: `exec_${i}`, lastSeq: BATCH_SIZE + 20 - i }));
    const frames = resubscribeFrames(runs);
    expect(frames.map((frame) => frame.runIds.length)).toEqual([BATCH_SIZE, 20]);
    expect(frames[0]!.frame).toMatchObject({ op: 'subscribe', since: 1 });
    expect(frames[1]!.frame).toMatchObject({ op: 'subscribe', since: BATCH_SIZE + 1 });
    expect(frames[0]!.frame.runIds).toEqual(frames[0]!.runIds);
    expect(new Set(frames.flatMap((frame) => frame.runIds)).size).toBe(BATCH_SIZE + 20);
  });
});
