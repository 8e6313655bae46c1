import { describe, expect, it } from 'vitest';
import { SentSeqMemory } from '../../../src/push/sent-seq-memory.js';

/** A memory on a hand-moved clock. */
function memory(options: { retentionMs?: number; maxRuns?: number; keep?: (id: string) => boolean } = {}) {
  const clock = { ms: 1_000_000 };
  const sent = new SentSeqMemory({ retentionMs: options.retentionMs ?? 60_000, maxRuns: options.maxRuns ?? 100_000 }, options.keep, () => clock.ms);
  return { sent, clock };
}

describe('SentSeqMemory', () => {
  it('lets only a higher seq of a remembered run through', () => {
    const { sent, clock } = memory();
    expect(sent.isNew('a', 1, clock.ms)).toBe(true);
    sent.remember('a', 1, { writtenAtMs: clock.ms });
    expect(sent.isNew('a', 1, clock.ms)).toBe(false);
    expect(sent.isNew('a', 2, clock.ms + 5)).toBe(true);
    sent.remember('a', 3, { writtenAtMs: clock.ms });
    expect(sent.isNew('a', 2, clock.ms + 5)).toBe(false);
    expect(sent.sentSeq('a')).toBe(3);
    // remembering a lower seq (a late `since`) never lowers what is remembered
    sent.remember('a', 2);
    expect(sent.sentSeq('a')).toBe(3);
  });

  it('forgets a run retentionMs after its last frame, and still refuses a re-offer of it', () => {
    const { sent, clock } = memory({ retentionMs: 1000 });
    const finalWrittenAt = clock.ms - 3;
    sent.remember('a', 2, { writtenAtMs: finalWrittenAt });
    clock.ms += 999;
    sent.remember('b', 1, { writtenAtMs: clock.ms });
    expect(sent.sentSeq('a')).toBe(2);
    clock.ms += 2;
    sent.remember('c', 1, { writtenAtMs: clock.ms }); // any remember() sweeps
    expect(sent.sentSeq('a')).toBeUndefined();
    // A resync or duplicate delivery of the same record, however late: written before the horizon.
    clock.ms += 3_600_000;
    expect(sent.isNew('a', 2, finalWrittenAt)).toBe(false);
    expect(sent.isNew('a', 1, finalWrittenAt - 10)).toBe(false);
    // A change written after what was forgotten is news (a run it never had, or a later state).
    expect(sent.isNew('z', 1, finalWrittenAt + 1)).toBe(true);
  });

  it('counts a later frame of a run from that frame on', () => {
    const { sent, clock } = memory({ retentionMs: 1000 });
    sent.remember('a', 1, { writtenAtMs: clock.ms });
    clock.ms += 900;
    sent.remember('a', 2, { writtenAtMs: clock.ms });
    clock.ms += 200;
    sent.remember('x', 1, { writtenAtMs: clock.ms });
    expect(sent.sentSeq('a')).toBe(2);
    clock.ms += 1000;
    sent.remember('y', 1, { writtenAtMs: clock.ms });
    expect(sent.sentSeq('a')).toBeUndefined();
  });

  it('holds at most maxRuns, forgetting the oldest first', () => {
    const { sent, clock } = memory({ maxRuns: 3 });
    for (const id of ['a', 'b', 'c', 'd']) sent.remember(id, 1, { writtenAtMs: clock.ms++ });
    expect(sent.size).toBe(3);
    expect(sent.sentSeq('a')).toBeUndefined();
    expect(sent.sentSeq('d')).toBe(1);
    expect(sent.isNew('a', 1, clock.ms - 4)).toBe(false);
  });

  it('keeps what keep() names however old, and forgets it once no longer kept', () => {
    const kept = new Set(['pinned']);
    const { sent, clock } = memory({ retentionMs: 1000, keep: (id) => kept.has(id) });
    sent.remember('pinned', 7, { writtenAtMs: clock.ms });
    sent.remember('loose', 1, { writtenAtMs: clock.ms });
    for (let i = 0; i < 5; i++) {
      clock.ms += 1500;
      sent.remember(`tick${i}`, 1, { writtenAtMs: clock.ms });
    }
    expect(sent.sentSeq('pinned')).toBe(7);
    expect(sent.sentSeq('loose')).toBeUndefined();
    kept.clear();
    clock.ms += 1500;
    sent.remember('later', 1, { writtenAtMs: clock.ms });
    clock.ms += 1500;
    sent.remember('later2', 1, { writtenAtMs: clock.ms });
    expect(sent.sentSeq('pinned')).toBeUndefined();
  });

  it('stays bounded by the retention window however many runs pass through', () => {
    const { sent, clock } = memory({ retentionMs: 10_000 });
    // 200 runs a second for 10 minutes, two frames each (the second 0.5 s after the first):
    // what is remembered is the last 10 s of runs, and the 0.5 s before whose last frame is in it.
    for (let i = 0; i < 120_000; i++) {
      clock.ms += 5;
      sent.remember(`run${i}`, 1, { writtenAtMs: clock.ms - 1 });
      sent.remember(`run${i - 100}`, 2, { writtenAtMs: clock.ms - 1 });
    }
    expect(sent.size).toBeLessThanOrEqual(2100);
    expect(sent.size).toBeGreaterThan(2000);
  });
});
