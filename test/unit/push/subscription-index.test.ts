import { describe, expect, it } from 'vitest';
import { SentSeqMemory } from '../../../src/push/sent-seq-memory.js';
import { SubscriptionIndex } from '../../../src/push/subscription-index.js';
import type { Run } from '../../../src/runs/run.js';

function run(id: string, seq: number): Run {
  return { id, flowId: 'f', status: 'running', seq, source: 'webhook' };
}

/** Peers can be anything; plain strings keep these tests short. */
function visited(index: SubscriptionIndex<string>, r: { id: string; flowId: string }): string[] {
  const peers: string[] = [];
  index.forEachPeer(r, (peer) => peers.push(peer));
  return peers.sort();
}

describe('SubscriptionIndex', () => {
  it('reaches exactly the peers that follow a run, its flow or every flow, each once', () => {
    const index = new SubscriptionIndex<string>();
    index.beginRun('byRun', 'exec_1');
    index.confirmRun('byRun', 'exec_1');
    index.addFlow('byFlow', 'f');
    index.addFlow('everything', '*');
    index.beginRun('twice', 'exec_1');
    index.addFlow('twice', 'f');
    index.addFlow('twice', '*');
    index.addFlow('other', 'g');
    index.beginRun('other', 'exec_2');

    expect(visited(index, { id: 'exec_1', flowId: 'f' })).toEqual(['byFlow', 'byRun', 'everything', 'twice']);
    expect(visited(index, { id: 'exec_3', flowId: 'g' })).toEqual(['everything', 'other', 'twice']);
    expect(visited(index, { id: 'exec_2', flowId: 'h' })).toEqual(['everything', 'other', 'twice']);
  });

  it('parks changes for a pending run subscription, keeps the newest, and hands it over on confirmation', () => {
    const index = new SubscriptionIndex<string>();
    expect(index.beginRun('p', 'exec_1')).toBe(true);
    expect(index.beginRun('p', 'exec_1')).toBe(false);
    expect(index.runState('p', 'exec_1')).toBe('pending');
    expect(index.park('p', run('exec_1', 3))).toBe(true);
    expect(index.park('p', run('exec_1', 2))).toBe(true);
    // Another peer, or another run, is not parked.
    expect(index.park('q', run('exec_1', 4))).toBe(false);
    expect(index.park('p', run('exec_2', 4))).toBe(false);

    expect(index.confirmRun('p', 'exec_1')).toEqual({ parked: run('exec_1', 3) });
    expect(index.runState('p', 'exec_1')).toBe('confirmed');
    expect(index.park('p', run('exec_1', 5))).toBe(false);
    // Confirming again (a second subscribe of the same run) hands over nothing.
    expect(index.confirmRun('p', 'exec_1')).toEqual({ parked: undefined });
  });

  it('confirms nothing when the peer unsubscribed while its run was looked up', () => {
    const index = new SubscriptionIndex<string>();
    index.beginRun('p', 'exec_1');
    expect(index.removeRun('p', 'exec_1')).toBe(true);
    expect(index.confirmRun('p', 'exec_1')).toBeUndefined();
    expect(index.runState('p', 'exec_1')).toBeUndefined();
  });

  it('counts subscriptions per peer and in total, and reports every change of the total', () => {
    const sizes: number[] = [];
    const index = new SubscriptionIndex<string>({ onSizeChange: (size) => sizes.push(size) });
    index.beginRun('a', 'exec_1');
    index.addFlow('a', 'f');
    index.addFlow('a', 'f');
    index.beginRun('b', 'exec_1');
    expect(index.countOf('a')).toBe(2);
    expect(index.countOf('b')).toBe(1);
    expect(index.countOf('nobody')).toBe(0);
    expect(index.size).toBe(3);
    expect(index.removeFlow('a', 'f')).toBe(true);
    expect(index.removeFlow('a', 'f')).toBe(false);
    expect(index.removeRun('a', 'nope')).toBe(false);
    expect(sizes).toEqual([1, 2, 3, 2]);
  });

  it('forgets a gone peer entirely, and the ids nobody follows any more', () => {
    const index = new SubscriptionIndex<string>();
    index.beginRun('a', 'exec_1');
    index.beginRun('a', 'exec_2');
    index.confirmRun('a', 'exec_2');
    index.addFlow('a', 'f');
    index.beginRun('b', 'exec_2');
    expect(index.runIds().sort()).toEqual(['exec_1', 'exec_2']);
    expect(index.flowIds()).toEqual(['f']);

    expect(index.removePeer('a')).toBe(3);
    expect(index.removePeer('a')).toBe(0);
    expect(index.size).toBe(1);
    expect(index.runIds()).toEqual(['exec_2']);
    expect(index.flowIds()).toEqual([]);
    expect(index.followsFlow('a', 'f')).toBe(false);
    expect(visited(index, { id: 'exec_1', flowId: 'f' })).toEqual([]);
  });
});

describe('SentSeqMemory', () => {
  it('lets a run through only when its seq is newer than what the peer holds, and never lowers it', () => {
    const memory = new SentSeqMemory();
    expect(memory.isNew('exec_1', 1)).toBe(true);
    memory.remember('exec_1', 5);
    expect(memory.isNew('exec_1', 5)).toBe(false);
    expect(memory.isNew('exec_1', 4)).toBe(false);
    expect(memory.isNew('exec_1', 6)).toBe(true);
    memory.remember('exec_1', 2);
    expect(memory.isNew('exec_1', 5)).toBe(false);
  });

  it('lets nothing of a run through once the peer holds its final state, not even a higher seq', () => {
    const memory = new SentSeqMemory();
    memory.remember('exec_1', 4);
    memory.remember('exec_1', 5, { final: true });
    // A store that lost its data may give the same final state back under a higher seq.
    expect(memory.isNew('exec_1', 1_000_000_001)).toBe(false);
    memory.remember('exec_1', 2);
    expect(memory.isNew('exec_1', 1_000_000_002)).toBe(false);
    expect(memory.isNew('exec_2', 1)).toBe(true);
  });

  it('forgets the run touched longest ago beyond its bound', () => {
    const clock = { ms: 1 };
    const memory = new SentSeqMemory({ retentionMs: 60_000, maxRuns: 2 }, () => false, () => clock.ms++);
    memory.remember('a', 1);
    memory.remember('b', 1);
    memory.remember('a', 2); // touched again: b is now the oldest
    memory.remember('c', 1);
    expect(memory.size).toBe(2);
    expect(memory.isNew('a', 2)).toBe(false);
    expect(memory.isNew('c', 1)).toBe(false);
    // b is forgotten: a change written after it goes out, its own old state does not.
    expect(memory.isNew('b', 1, 2)).toBe(false);
    expect(memory.isNew('b', 2, 100)).toBe(true);
  });
});
