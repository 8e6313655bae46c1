import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { StoreResetError } from '../../../src/errors.js';
import { seqFloor } from '../../../src/runs/seq-rule.js';
import type { MarkReading, StoreMark, StoreMarker } from '../../../src/store/store-marker.js';
import { StoreResetWatch, type StoreReset } from '../../../src/tracking/store-reset-watch.js';

/** A store's mark in memory, shared by the "instances" of a test like one Redis would be. */
class FakeStoreMarks {
  mark: StoreMark | undefined;
  writes = 0;
  reads = 0;
  /** Reads wait on this while set (the store is away). */
  gate: Promise<void> | undefined;
  /** The next read fails once the gate opens (it was sent on a connection that dropped). */
  failNextRead = false;

  lose(): void {
    this.mark = undefined;
    this.writes = 0;
  }
}

/** One instance's marker over the shared marks. */
class FakeMarker implements StoreMarker {
  expected: StoreMark | undefined;
  own = 0;
  private readonly reconnectListeners = new Set<() => void>();

  constructor(private readonly marks: FakeStoreMarks) {}

  async readMark(): Promise<MarkReading> {
    this.marks.reads++;
    await this.marks.gate;
    if (this.marks.failNextRead) {
      this.marks.failNextRead = false;
      throw new Error('Connection is closed.');
    }
    return { mark: this.marks.mark, writes: this.marks.writes };
  }
  async swapMark(expected: StoreMark | undefined, next: StoreMark): Promise<StoreMark> {
    await Promise.resolve();
    if (this.marks.mark?.id === expected?.id) this.marks.mark = next;
    return this.marks.mark!;
  }
  expectMark(mark: StoreMark): void {
    this.expected = mark;
    this.own = 0;
  }
  ownWrites(): number {
    return this.own;
  }
  onReconnect(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }
  /** A write of this instance, as the store's script would count it. */
  write(): void {
    this.own = ++this.marks.writes;
  }
  reconnect(): void {
    for (const listener of this.reconnectListeners) listener();
  }
  get listening(): number {
    return this.reconnectListeners.size;
  }
}

function logCapture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: pino({ level: 'debug' }, stream) };
}

let ids = 0;
function instance(marks: FakeStoreMarks, options: { intervalMs?: number } = {}) {
  const marker = new FakeMarker(marks);
  const { lines, logger } = logCapture();
  const resets: StoreReset[] = [];
  let finishRecovery: (() => void) | undefined;
  const recovered: Array<Promise<void>> = [];
  let holdRecovery = false;
  const watch = new StoreResetWatch({
    marker,
    logger,
    intervalMs: options.intervalMs ?? 60_000,
    newId: () => `mark-${++ids}`,
    recover: async (reset) => {
      resets.push(reset);
      if (holdRecovery) {
        const held = new Promise<void>((resolve) => (finishRecovery = resolve));
        recovered.push(held);
        await held;
      }
      return { restored: 3 };
    },
  });
  return {
    marker,
    watch,
    lines,
    resets,
    hold: () => (holdRecovery = true),
    release: () => finishRecovery?.(),
    warnings: () => lines.filter((line) => line.msg === 'store was reset'),
  };
}

/** Lets queued promise callbacks (the background recovery and its log line) run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('StoreResetWatch', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('writes the first mark into an empty store, and takes the one it finds otherwise', async () => {
    const marks = new FakeStoreMarks();
    const a = instance(marks);
    const first = await a.watch.start();
    expect(first).toMatchObject({ generation: 0 });
    expect(marks.mark).toEqual(first);
    expect(a.marker.expected).toEqual(first);
    const b = instance(marks);
    expect(await b.watch.start()).toEqual(first);
    expect(b.watch.seqFloor()).toBe(0);
    await a.watch.check('look');
    expect(a.resets).toEqual([]);
    await Promise.all([a.watch.close(), b.watch.close()]);
  });

  it('notices a store that came back empty, marks the next generation and recovers, with a warning', async () => {
    const marks = new FakeStoreMarks();
    const a = instance(marks);
    await a.watch.start();
    a.marker.write();
    marks.lose();
    a.marker.reconnect();
    await settle();
    await settle();
    expect(a.watch.generation).toBe(1);
    expect(a.watch.seqFloor()).toBe(seqFloor(1));
    expect(marks.mark).toEqual(a.marker.expected);
    expect(a.marker.own).toBe(0);
    expect(a.resets).toEqual([{ reason: 'store reconnected: the store has no mark (it lost its data)', previousGeneration: 0, generation: 1 }]);
    expect(a.warnings()).toHaveLength(1);
    expect(a.warnings()[0]).toMatchObject({ level: 40, generation: 1, previousGeneration: 0, restored: 3 });
    await a.watch.close();
  });

  it('ends several instances that notice one loss on one mark, each recovering once', async () => {
    const marks = new FakeStoreMarks();
    const cluster = [instance(marks), instance(marks), instance(marks)];
    for (const each of cluster) await each.watch.start();
    marks.lose();
    await Promise.all(cluster.map((each) => each.watch.check('reconnect')));
    await settle();
    const adopted = cluster.map((each) => each.marker.expected);
    expect(new Set(adopted.map((mark) => mark?.id)).size).toBe(1);
    expect(adopted[0]).toEqual(marks.mark);
    expect(marks.mark?.generation).toBe(1);
    for (const each of cluster) expect(each.resets).toHaveLength(1);
    // One marked it; the others found its mark, of a higher generation than theirs.
    expect(cluster.map((each) => each.resets[0]!.reason).filter((reason) => reason.includes('no mark')).length).toBeGreaterThanOrEqual(1);
    for (const each of cluster) await each.watch.close();
  });

  it('raises the generation above a mark written into the emptied store by an instance that knew nothing', async () => {
    const marks = new FakeStoreMarks();
    const a = instance(marks);
    await a.watch.start();
    marks.lose();
    // A fresh instance starts on the emptied store first and marks it generation 0.
    const fresh = instance(marks);
    await fresh.watch.start();
    expect(fresh.watch.generation).toBe(0);
    await a.watch.check('periodic check');
    expect(a.watch.generation).toBe(1);
    // The fresh one follows on its next look, and recovers too (it may have written meanwhile).
    await fresh.watch.check('periodic check');
    expect(fresh.watch.generation).toBe(1);
    expect(fresh.marker.expected).toEqual(a.marker.expected);
    expect(fresh.resets).toHaveLength(1);
    await Promise.all([a.watch.close(), fresh.watch.close()]);
  });

  it('notices a store that went back in time: its write count is below what our own writes reached', async () => {
    const marks = new FakeStoreMarks();
    const a = instance(marks);
    await a.watch.start();
    a.marker.write();
    a.marker.write();
    a.marker.write();
    // Restarted from a snapshot taken after the first write: same mark, fewer writes.
    marks.writes = 1;
    await a.watch.check('store reconnected');
    expect(a.watch.generation).toBe(1);
    expect(a.resets[0]!.reason).toContain('went back in time');
    await a.watch.close();
  });

  it('treats a write refused under the current mark as a loss, and one under an old mark as nothing more', async () => {
    const marks = new FakeStoreMarks();
    const a = instance(marks);
    const first = await a.watch.start();
    // The store looks fine again by now (other writes), yet it refused ours: raise.
    await a.watch.confirm(new StoreResetError(first.id));
    expect(a.watch.generation).toBe(1);
    expect(a.resets[0]!.reason).toContain('refused a write');
    // A write sent under the mark we have since left behind: write again, nothing to do.
    await a.watch.confirm(new StoreResetError(first.id));
    expect(a.watch.generation).toBe(1);
    expect(a.resets).toHaveLength(1);
    await a.watch.close();
  });

  it('shares one look among reconnects, refusals and timer ticks that come while the store is away', async () => {
    vi.useFakeTimers();
    const marks = new FakeStoreMarks();
    const a = instance(marks, { intervalMs: 1000 });
    await a.watch.start();
    const readsAtStart = marks.reads;
    let open: () => void = () => undefined;
    marks.gate = new Promise<void>((resolve) => (open = resolve));
    marks.lose();
    await vi.advanceTimersByTimeAsync(3500);
    a.marker.reconnect();
    const refused = a.watch.confirm(new StoreResetError(a.marker.expected!.id));
    expect(marks.reads - readsAtStart).toBe(1);
    marks.gate = undefined;
    open();
    await refused;
    await vi.advanceTimersByTimeAsync(0);
    expect(a.watch.generation).toBe(1);
    expect(a.resets).toHaveLength(1);
    await a.watch.close();
    // Closed: no more looks, no reconnect listener left.
    const reads = marks.reads;
    await vi.advanceTimersByTimeAsync(5000);
    expect(marks.reads).toBe(reads);
    expect(a.marker.listening).toBe(0);
  });

  it('looks once more after a look that was stuck when the store reconnected', async () => {
    const marks = new FakeStoreMarks();
    const a = instance(marks);
    await a.watch.start();
    let open: () => void = () => undefined;
    marks.gate = new Promise<void>((resolve) => (open = resolve));
    marks.failNextRead = true;
    const stuck = a.watch.check('periodic check');
    // Redis restarted empty and the connection is back, while that read still hangs on the old one.
    marks.lose();
    a.marker.reconnect();
    marks.gate = undefined;
    open();
    await stuck;
    await a.watch.check('settled');
    expect(a.watch.generation).toBe(1);
    expect(a.resets).toHaveLength(1);
    expect(a.resets[0]!.reason).toMatch(/^store reconnected/);
    await a.watch.close();
  });

  it('runs one recovery at a time: a loss noticed during one gets one more after it', async () => {
    const marks = new FakeStoreMarks();
    const a = instance(marks);
    a.hold();
    await a.watch.start();
    marks.lose();
    await a.watch.check('first');
    expect(a.resets).toHaveLength(1);
    marks.lose();
    await a.watch.check('second');
    marks.lose();
    await a.watch.check('third');
    // Still held: the later losses wait, and share one more pass.
    expect(a.resets).toHaveLength(1);
    a.release();
    await settle();
    expect(a.resets).toHaveLength(2);
    expect(a.resets[1]!.generation).toBe(3);
    a.release();
    await settle();
    expect(a.resets).toHaveLength(2);
    expect(a.warnings()).toHaveLength(2);
    await a.watch.close();
  });

  it('keeps writing when the store cannot be read, and logs a failed recovery instead of throwing', async () => {
    const marks = new FakeStoreMarks();
    const marker = new FakeMarker(marks);
    const { lines, logger } = logCapture();
    const watch = new StoreResetWatch({ marker, logger, newId: () => `m${++ids}`, recover: () => Promise.reject(new Error('store down again')) });
    await watch.start();
    marker.readMark = () => Promise.reject(new Error('connection lost'));
    await watch.check('periodic check');
    expect(watch.generation).toBe(0);
    marker.readMark = () => Promise.resolve({ mark: undefined, writes: 0 });
    marks.lose();
    await watch.check('store reconnected');
    await settle();
    expect(lines.find((line) => line.msg === 'recovering from a store reset failed')).toBeDefined();
    await watch.close();
  });
});
