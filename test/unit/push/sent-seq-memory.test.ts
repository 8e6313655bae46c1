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

  it('answers as its rules say through bursts and lulls that grow and shrink its log', () => {
    // The rules, kept naively: per run the newest seq and its last frame; a remember() forgets
    // runs whose last frame is retentionMs old (kept ones come back a retention later), then the
    // oldest last frames while more than maxRuns are held; what is forgotten raises the horizon.
    const retentionMs = 2_000;
    const maxRuns = 700;
    const kept = new Set(['run3', 'run17']);
    const { sent, clock } = memory({ retentionMs, maxRuns, keep: (id) => kept.has(id) });
    const model = new Map<string, { seq: number; sentAtMs: number; writtenAtMs: number }>();
    let horizonMs = -Infinity;
    const forget = (id: string) => {
      horizonMs = Math.max(horizonMs, model.get(id)!.writtenAtMs);
      model.delete(id);
    };
    const modelRemember = (id: string, seq: number, writtenAtMs: number, final: boolean) => {
      const byAge = () => [...model].sort((a, b) => a[1].sentAtMs - b[1].sentAtMs);
      for (const [runId, entry] of byAge()) {
        if (entry.sentAtMs > clock.ms - retentionMs) break;
        if (kept.has(runId)) entry.sentAtMs = clock.ms;
        else forget(runId);
      }
      const held = final ? Infinity : seq;
      const known = model.get(id);
      if (known && known.seq >= held) return;
      model.delete(id); // re-inserted: Map order follows the last frame, as the log does
      model.set(id, { seq: held, sentAtMs: clock.ms, writtenAtMs });
      for (const [runId] of byAge()) {
        if (model.size <= maxRuns) break;
        if (!kept.has(runId)) forget(runId);
      }
    };
    const modelIsNew = (id: string, seq: number, writtenAtMs: number) => {
      const known = model.get(id);
      return known === undefined ? writtenAtMs > horizonMs : seq > known.seq;
    };
    let seed = 7;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    for (let step = 0; step < 20_000; step++) {
      // Bursts of up to a few hundred frames a second, then lulls of seconds.
      clock.ms += Math.floor(step / 2_000) % 2 === 0 ? Math.floor(random() * 3) : Math.floor(random() * 400);
      const id = `run${Math.floor(random() * 900)}`;
      const seq = 1 + Math.floor(random() * 4);
      const writtenAtMs = clock.ms - Math.floor(random() * 50);
      if (random() < 0.6) {
        const final = random() < 0.2;
        sent.remember(id, seq, { writtenAtMs, final });
        modelRemember(id, seq, writtenAtMs, final);
      }
      expect(sent.isNew(id, seq, writtenAtMs), `step ${step}: ${id} seq ${seq}`).toBe(modelIsNew(id, seq, writtenAtMs));
      expect(sent.sentSeq(id)).toBe(model.get(id)?.seq);
      // A re-offer of any run, written up to three retentions ago: on either side of the horizon.
      const other = `run${Math.floor(random() * 900)}`;
      const olderWrite = clock.ms - Math.floor(random() * 3 * retentionMs);
      expect(sent.isNew(other, 1, olderWrite), `step ${step}: ${other} written at ${olderWrite}`).toBe(modelIsNew(other, 1, olderWrite));
    }
    expect(sent.size).toBe(model.size);
  });

  it('gives back the room of a burst once the burst is forgotten', () => {
    const { sent, clock } = memory({ retentionMs: 1_000 });
    for (let i = 0; i < 20_000; i++) sent.remember(`burst${i}`, 1, { writtenAtMs: clock.ms });
    expect(sent.logCapacity).toBe(32_768);
    // Then one frame every 10 ms: 100 runs within the retention.
    for (let i = 0; i < 1_000; i++) {
      clock.ms += 10;
      sent.remember(`trickle${i}`, 1, { writtenAtMs: clock.ms });
    }
    expect(sent.size).toBeLessThanOrEqual(101);
    expect(sent.logCapacity).toBe(256);
  });

  it('keeps each entry whole when its ring wraps, doubles and halves', () => {
    const { sent, clock } = memory({ retentionMs: 100 });
    const t0 = clock.ms;
    for (let i = 0; i < 10; i++) sent.remember(`a${i}`, 1, { writtenAtMs: 5_000 + i });
    clock.ms = t0 + 50;
    for (let i = 10; i < 12; i++) sent.remember(`a${i}`, 1, { writtenAtMs: 5_000 + i });
    // The first b-run forgets a0–a9: the log's head moves to slot 10, and the b-runs wrap past
    // slot 0 until the ring is full and doubles, wrapped.
    clock.ms = t0 + 100;
    for (let i = 0; i < 16; i++) sent.remember(`b${i}`, 2, { writtenAtMs: 6_000 + i });
    expect(sent.logCapacity).toBe(32);
    expect(sent.size).toBe(18);
    for (let i = 0; i < 10; i++) expect(sent.sentSeq(`a${i}`)).toBeUndefined();
    for (let i = 10; i < 12; i++) expect(sent.sentSeq(`a${i}`)).toBe(1);
    for (let i = 0; i < 16; i++) expect(sent.sentSeq(`b${i}`)).toBe(2);
    // The horizon is the newest write time forgotten: a re-offer of a forgotten run is refused up
    // to it and let through after it.
    expect(sent.isNew('a3', 1, 5_009)).toBe(false);
    expect(sent.isNew('a3', 1, 5_010)).toBe(true);
    // Entries moved by the doubling keep their send times and write times.
    clock.ms = t0 + 150;
    sent.remember('c', 1, { writtenAtMs: 7_000 });
    expect(sent.size).toBe(17);
    expect(sent.isNew('a10', 1, 5_011)).toBe(false);
    expect(sent.isNew('a10', 1, 5_012)).toBe(true);
    // Past their retention the b-runs go, and the ring halves back to its first size.
    clock.ms = t0 + 200;
    sent.remember('d', 1, { writtenAtMs: 7_001 });
    expect(sent.size).toBe(2);
    expect(sent.logCapacity).toBe(16);
    expect(sent.isNew('b15', 2, 6_015)).toBe(false);
    expect(sent.isNew('b15', 3, 6_016)).toBe(true);
    expect(sent.sentSeq('c')).toBe(1);
  });
});

